// Command report turns make bench's samples into a table of medians with
// the ratios the targets are about, and a plot of milliseconds per container
// against the number of containers, one line per tool; given the unpacking
// samples too, a table of those and a bar chart of their medians.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: report results.tsv out.png [images.tsv images.png]")
		os.Exit(2)
	}
	samples, err := read(os.Args[1])
	if err == nil {
		table(samples)
		err = draw(samples, os.Args[2])
	}
	if err == nil && len(os.Args) == 5 {
		var images, cpu map[string]map[int][]float64
		if images, err = read(os.Args[3]); errors.Is(err, fs.ErrNotExist) {
			err = nil // make bench has not run its images part yet
		} else if err == nil {
			if cpu, err = readColumn(os.Args[3], 4); err == nil {
				fmt.Println()
				imageTable(images, cpu)
				err = drawImages(images, os.Args[4])
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// read returns the samples by tool and N.
func read(in string) (map[string]map[int][]float64, error) { return readColumn(in, 3) }

// readColumn returns column col (from 0) of the samples, by tool and N.
func readColumn(in string, col int) (map[string]map[int][]float64, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	samples := map[string]map[int][]float64{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 4 || len(c) <= col {
			continue
		}
		n, _ := strconv.Atoi(c[1])
		ms, _ := strconv.ParseFloat(c[col], 64)
		if samples[c[0]] == nil {
			samples[c[0]] = map[int][]float64{}
		}
		samples[c[0]][n] = append(samples[c[0]][n], ms)
	}
	return samples, sc.Err()
}

// table prints the medians side by side and the ratios against the targets.
func table(s map[string]map[int][]float64) {
	med := func(tool string, n int) float64 {
		if v := s[tool][n]; len(v) > 0 {
			return median(v)
		}
		return 0
	}
	sizes := []int{1, 50, 200}
	fmt.Printf("%-36s %9s %9s %9s   ms per container, median of %d runs\n", "tool", "N=1", "N=50", "N=200", len(s["plumb veth up"][1]))
	for _, t := range []string{"document (bash)", "plumb veth up", "plumb bridge attach", "plumb bridge attach, all in one call",
		"bare ip batches, bash (floor)", "CNI ADD (cnitool)", "plumb bridge detach", "plumb bridge detach, all in one call", "CNI DEL (cnitool)"} {
		fmt.Printf("%-36s", t)
		for _, n := range sizes {
			if v := med(t, n); v > 0 {
				fmt.Printf(" %9.2f", v)
			} else {
				fmt.Printf(" %9s", "-")
			}
		}
		fmt.Println()
	}
	fmt.Println()
	ratio := func(a, b float64) string {
		if a == 0 || b == 0 {
			return "   -"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, n := range sizes {
		if med("plumb veth up", n) == 0 {
			continue
		}
		fmt.Printf("N=%-3d  veth up / document %s (target <= 0.33)   attach / CNI ADD %s (target <= 0.25)   detach / CNI DEL %s (target <= 0.25)\n", n,
			ratio(med("plumb veth up", n), med("document (bash)", n)),
			ratio(med("plumb bridge attach", n), med("CNI ADD (cnitool)", n)),
			ratio(med("plumb bridge detach", n), med("CNI DEL (cnitool)", n)))
	}
	fmt.Printf("--dry-run wall time, process start included: veth up %.2f ms, bridge up %.2f ms (target < 20 ms)\n",
		med("dry-run veth up", 1), med("dry-run bridge up", 1))
	fmt.Printf("bridge attach of 200 containers in one call: %.2f ms per container (target <= 3); the same ip batches from bash: %.2f\n",
		med("plumb bridge attach, all in one call", 200), med("bare ip batches, bash (floor)", 200))
}

// draw plots ms per container against N for each tool.
func draw(samples map[string]map[int][]float64, out string) error {
	p := plot.New()
	p.Title.Text = "Setting up one container: plumb, the document's commands, CNI"
	p.X.Label.Text = "containers (N)"
	p.Y.Label.Text = "ms per container (median)"
	p.Legend.Top = true
	p.Legend.Left = true
	var tools []string
	for t := range samples {
		if !strings.HasPrefix(t, "dry-run") {
			tools = append(tools, t)
		}
	}
	sort.Strings(tools)
	palette := []color.RGBA{{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255}, {128, 128, 128, 255}, {153, 0, 0, 255}}
	for i, t := range tools {
		var ns []int
		for n := range samples[t] {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		pts := make(plotter.XYs, len(ns))
		for j, n := range ns {
			pts[j].X, pts[j].Y = float64(n), median(samples[t][n])
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, points.Color = palette[i%len(palette)], palette[i%len(palette)]
		p.Add(line, points)
		p.Legend.Add(t, line, points)
	}
	return p.Save(9*vg.Inch, 5*vg.Inch, out)
}

// The unpacking tools, as scripts/bench.sh names them: (a) one layer, (b) an
// image, each against GNU tar; plumb first, then what it is measured against.
var (
	oneLayer = []string{"plumb layer unpack", "GNU tar -xf", "plumb layer unpack, gzip", "GNU tar -xzf"}
	anImage  = []string{"plumb image import", "GNU tar -xf, one after another", "plumb image import, gzip", "GNU tar -xf, 2 side by side"}
	meaning  = map[string]string{
		"plumb layer unpack":             "the whole command: the layer read from a docker save archive (uncompressed, as docker save writes it), unpacked, its sha256 checked",
		"GNU tar -xf":                    "the same layer tar",
		"plumb layer unpack, gzip":       "the same, the layer gzip in the archive (as plumb-mkimage writes it)",
		"GNU tar -xzf":                   "the same gzip blob",
		"plumb image import":             "the whole command: a layer unpack step each, side by side, journaled (uncompressed layers)",
		"GNU tar -xf, one after another": "the same layer tars, in turn",
		"plumb image import, gzip":       "the same, the layers gzip in the archive",
		"GNU tar -xf, 2 side by side":    "the same layer tars, xargs -P 2 (for comparison)",
	}
)

// imageTable prints the unpacking medians, wall and CPU time, and their
// ratios to the targets.
func imageTable(s, cpu map[string]map[int][]float64) {
	one := func(tools []string) (int, int) { // the layer count the tools were run with, and runs
		for _, t := range tools {
			for n, v := range s[t] {
				return n, len(v)
			}
		}
		return 0, 0
	}
	na, runs := one(oneLayer)
	nb, _ := one(anImage)
	med := func(t string, n int) float64 {
		if v := s[t][n]; len(v) > 0 {
			return median(v)
		}
		return 0
	}
	fmt.Printf("unpacking layers, on tmpfs (the state directory's file system), median of %d runs\n", runs)
	fmt.Printf("%-34s %8s %8s\n", "", "wall ms", "CPU ms")
	for _, g := range []struct {
		title string
		tools []string
		n     int
	}{{"(a) one layer of about 50 MB", oneLayer, na}, {fmt.Sprintf("(b) an image of %d layers, 2 cores", nb), anImage, nb}} {
		fmt.Println(g.title)
		for _, t := range g.tools {
			if v := med(t, g.n); v > 0 {
				c := 0.0
				if v := cpu[t][g.n]; len(v) > 0 {
					c = median(v)
				}
				fmt.Printf("  %-32s %8.1f %8.1f  %s\n", t, v, c, meaning[t])
			}
		}
	}
	ratio := func(a, b string, n int) string {
		if med(a, n) == 0 || med(b, n) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", med(a, n)/med(b, n))
	}
	fmt.Printf("(a) plumb layer unpack / tar -xf %s (target <= 1); gzip: plumb / tar -xzf %s\n",
		ratio("plumb layer unpack", "GNU tar -xf", na), ratio("plumb layer unpack, gzip", "GNU tar -xzf", na))
	fmt.Printf("(b) plumb image import / tar -xf one after another %s (target < 1); / tar -xf 2 side by side %s\n",
		ratio("plumb image import", "GNU tar -xf, one after another", nb), ratio("plumb image import", "GNU tar -xf, 2 side by side", nb))
}

// drawImages plots the unpacking medians as bars, plumb's first in each group.
func drawImages(s map[string]map[int][]float64, out string) error {
	p := plot.New()
	p.Title.Text = "Unpacking layers on tmpfs: plumb against GNU tar (median ms)"
	p.Y.Label.Text = "ms (median)"
	p.Legend.Top = true
	groups := [][]string{oneLayer, anImage}
	names := []string{"(a) one layer, about 50 MB", "(b) an image"}
	for n := range s[anImage[0]] {
		names[1] = fmt.Sprintf("(b) an image of %d layers", n)
	}
	w := vg.Points(40)
	for i := range len(oneLayer) {
		vals := make(plotter.Values, len(groups))
		label := ""
		for g, tools := range groups {
			for _, v := range s[tools[i]] {
				vals[g] = median(v)
			}
			if label != "" {
				label += " | "
			}
			label += tools[i]
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = vg.Length(float64(i)-float64(len(oneLayer)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(label, bars)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, 1.6
	p.Y.Min, p.Y.Max = 0, p.Y.Max*1.3 // room for the legend
	return p.Save(9*vg.Inch, 5*vg.Inch, out)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
