// Command report turns make bench's samples into a table of medians with
// the ratios the targets are about, and a plot of milliseconds per container
// against the number of containers, one line per tool.
package main

import (
	"bufio"
	"fmt"
	"image/color"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: report results.tsv out.png")
		os.Exit(2)
	}
	samples, err := read(os.Args[1])
	if err == nil {
		table(samples)
		err = draw(samples, os.Args[2])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// read returns the samples by tool and N.
func read(in string) (map[string]map[int][]float64, error) {
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
		if len(c) != 4 {
			continue
		}
		n, _ := strconv.Atoi(c[1])
		ms, _ := strconv.ParseFloat(c[3], 64)
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

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
