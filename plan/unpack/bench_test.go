package unpack

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
		st.bytes, st.files, st.dirs, st.symlinks, st.hardlinks, st.digest)
	into := os.Getenv("PLUMB_BENCH_DIR")
	if into == "" {
		into = tmp
	}

	run := func(b *testing.B, unpack func(dst string) error) {
		b.SetBytes(st.bytes)
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
			_, err = Apply(context.Background(), dst, f, Options{DiffID: st.digest})
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
			_, err = Apply(context.Background(), dst, f, Options{DiffID: st.digest})
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

type benchStats struct {
	bytes                            int64
	files, dirs, symlinks, hardlinks int
	digest                           string
}

// writeBenchLayer writes a layer of about size bytes at path, always the
// same for a size: directories up to four deep; files mostly small (source,
// bytecode, manifests), some tens of KB, a few large (libraries).
func writeBenchLayer(tb testing.TB, path string, size int64) benchStats {
	tb.Helper()
	rng := rand.New(rand.NewPCG(13, uint64(size)))
	content := rand.NewChaCha8([32]byte{13})
	dirs := []string{"usr", "usr/lib", "usr/share", "etc", "var", "var/lib"}
	for len(dirs) < 300 {
		parent := dirs[rng.IntN(len(dirs))]
		if depth(parent) < 4 {
			dirs = append(dirs, fmt.Sprintf("%s/d%03d", parent, len(dirs)))
		}
	}
	type file struct {
		name string
		size int64
		link string // symlink target
		hard string // hard link target
	}
	byDir := map[string][]file{}
	var total int64
	var regular []string
	for i := 0; total < size*97/100; i++ {
		d := dirs[rng.IntN(len(dirs))]
		name := fmt.Sprintf("%s/f%05d", d, i)
		switch p := rng.IntN(1000); {
		case p < 40:
			byDir[d] = append(byDir[d], file{name: name, link: fmt.Sprintf("../f%05d", rng.IntN(i+1))})
			continue
		case p < 50 && len(regular) > 0:
			byDir[d] = append(byDir[d], file{name: name, hard: regular[rng.IntN(len(regular))]})
			continue
		}
		var n int64
		switch p := rng.IntN(1000); {
		case p < 800:
			n = 100 + rng.Int64N(8<<10)
		case p < 980:
			n = 8<<10 + rng.Int64N(56<<10)
		case p < 998:
			n = 64<<10 + rng.Int64N(960<<10)
		default:
			n = 1<<20 + rng.Int64N(3<<20)
		}
		byDir[d] = append(byDir[d], file{name: name, size: n})
		regular = append(regular, name)
		total += n
	}

	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	var st benchStats
	sort.Strings(dirs)
	// Hard links follow their targets: write every directory's regular
	// files, then the links.
	buf := make([]byte, 4<<20)
	write := func(h *tar.Header) {
		h.ModTime, h.Uname, h.Gname = epoch, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
	}
	for _, d := range dirs {
		write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
		st.dirs++
		for _, fl := range byDir[d] {
			switch {
			case fl.link != "":
				write(&tar.Header{Typeflag: tar.TypeSymlink, Name: fl.name, Linkname: fl.link, Mode: 0o777})
				st.symlinks++
			case fl.hard == "":
				write(&tar.Header{Typeflag: tar.TypeReg, Name: fl.name, Mode: 0o644, Size: fl.size})
				content.Read(buf[:fl.size])
				if _, err := tw.Write(buf[:fl.size]); err != nil {
					tb.Fatal(err)
				}
				st.files++
			}
		}
	}
	for _, d := range dirs {
		for _, fl := range byDir[d] {
			if fl.hard != "" {
				write(&tar.Header{Typeflag: tar.TypeLink, Name: fl.name, Linkname: fl.hard})
				st.hardlinks++
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	st.bytes = cw.n
	st.digest = cw.digest()
	return st
}

func depth(p string) int {
	n := 1
	for _, c := range p {
		if c == '/' {
			n++
		}
	}
	return n
}

// countWriter counts and hashes what it passes on.
type countWriter struct {
	w io.Writer
	n int64
	h hash.Hash
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Write(p)
	c.n += int64(len(p))
	return c.w.Write(p)
}

func (c *countWriter) digest() string { return "sha256:" + hex.EncodeToString(c.h.Sum(nil)) }
