package unpack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"plumb/internal/mkimage"
)

// BenchmarkApply unpacks a generated layer of about 50 MB (thousands of
// files of mixed sizes, as a distribution's layer holds, some symlinks and
// hard links) with Apply, its digest checked, and with GNU tar -x, side by
// side on the same file. PLUMB_BENCH_DIR picks the file system unpacked
// into (default: the test's temporary directory):
//
//	go test ./plan/unpack -run '^$' -bench Apply -benchtime 10x -count 7
func BenchmarkApply(b *testing.B) {
	tmp := b.TempDir()
	layerPath := filepath.Join(tmp, "layer.tar")
	st := writeBenchLayer(b, layerPath, 50<<20)
	b.Logf("layer: %d bytes, %d files, %d directories, %d symlinks, %d hard links, %s",
		st.Bytes, st.Files, st.Dirs, st.Symlinks, st.Hardlinks, st.DiffID)
	into := os.Getenv("PLUMB_BENCH_DIR")
	if into == "" {
		into = tmp
	}

	run := func(b *testing.B, unpack func(dst string) error) {
		b.SetBytes(st.Bytes)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			dst := filepath.Join(into, fmt.Sprintf("bench-%d", i))
			if err := os.Mkdir(dst, 0o755); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := unpack(dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			makeWritable(dst)
			if err := os.RemoveAll(dst); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.Run("plumb", func(b *testing.B) {
		run(b, func(dst string) error {
			f, err := os.Open(layerPath)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = Apply(context.Background(), dst, f, Options{DiffID: st.DiffID})
			return err
		})
	})
	b.Run("gnutar", func(b *testing.B) {
		if _, err := exec.LookPath("tar"); err != nil {
			b.Skip("tar not found")
		}
		run(b, func(dst string) error {
			out, err := exec.Command("tar", "-xf", layerPath, "-C", dst).CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar -x: %v: %s", err, out)
			}
			return nil
		})
	})
}

// BenchmarkApplyVsTar runs Apply and GNU tar -x in turns, each on a fresh
// directory, and reports the median wall time of each (ms), their ratio and
// the median CPU time of each: under a varying load, turns compare like with
// like where separate runs do not. Its ns/op means nothing (the timer is
// stopped throughout); read the metrics.
func BenchmarkApplyVsTar(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not found")
	}
	tmp := b.TempDir()
	layerPath := filepath.Join(tmp, "layer.tar")
	st := writeBenchLayer(b, layerPath, 50<<20)
	into := os.Getenv("PLUMB_BENCH_DIR")
	if into == "" {
		into = tmp
	}
	var plumb, gnu, plumbCPU, gnuCPU []time.Duration
	timed := func(i int, name string, unpack func(dst string) error) time.Duration {
		b.StopTimer()
		defer b.StartTimer()
		dst := filepath.Join(into, fmt.Sprintf("%s-%d", name, i))
		if err := os.Mkdir(dst, 0o755); err != nil {
			b.Fatal(err)
		}
		cpu := cpuTime(unix.RUSAGE_SELF)
		start := time.Now()
		err := unpack(dst)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if name == "plumb" {
			plumbCPU = append(plumbCPU, cpuTime(unix.RUSAGE_SELF)-cpu)
		}
		makeWritable(dst)
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		return d
	}
	for i := 0; b.Loop(); i++ {
		apply := func(dst string) error {
			f, err := os.Open(layerPath)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = Apply(context.Background(), dst, f, Options{DiffID: st.DiffID})
			return err
		}
		tarx := func(dst string) error {
			cmd := exec.Command("tar", "-xf", layerPath, "-C", dst)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar -x: %v: %s", err, out)
			}
			gnuCPU = append(gnuCPU, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			return nil
		}
		if i%2 == 0 {
			plumb = append(plumb, timed(i, "plumb", apply))
			gnu = append(gnu, timed(i, "tar", tarx))
		} else {
			gnu = append(gnu, timed(i, "tar", tarx))
			plumb = append(plumb, timed(i, "plumb", apply))
		}
	}
	mp, mg := median(plumb), median(gnu)
	b.ReportMetric(float64(mp)/1e6, "plumb-ms")
	b.ReportMetric(float64(mg)/1e6, "tar-ms")
	b.ReportMetric(float64(mp)/float64(mg), "plumb/tar")
	b.ReportMetric(float64(median(plumbCPU))/1e6, "plumb-cpu-ms")
	b.ReportMetric(float64(median(gnuCPU))/1e6, "tar-cpu-ms")
}

func cpuTime(who int) time.Duration {
	var ru unix.Rusage
	unix.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// writeBenchLayer writes the benchmark's layer of about size bytes at path,
// always the same for a size (mkimage.WriteBulk: thousands of files of mixed
// sizes under usr, etc and var, some symlinks and hard links).
func writeBenchLayer(tb testing.TB, path string, size int64) mkimage.BulkStats {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := mkimage.WriteBulk(f, size)
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return st
}
