// Command report turns make bench's samples into a table of medians, plumb
// and its peers side by side, with the ratios the targets are about (each
// marked met or NOT met), the scaling figures, and a plot: milliseconds per
// container against the number of containers, one line per tool (setting
// up, tearing down), and one call's cost with nothing there against with
// SCALE there. Given the unpacking samples too, a table of those and a bar
// chart of their medians.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: report results.tsv out.png [images.tsv images.png]")
		os.Exit(2)
	}
	samples, err := read(os.Args[1])
	var cpu map[string]map[int][]float64
	if err == nil {
		cpu, err = readColumn(os.Args[1], 4)
	}
	if err == nil {
		table(samples, cpu)
		err = plotNet(samples, os.Args[2])
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

// The network rows, as scripts/bench.sh names them, in the table's order:
// setting up, then tearing down; plumb's first in each group of peers.
var (
	setupRows = []string{
		"document (bash)",
		"plumb veth up",
		"veth up's batches, bash (floor)",
		"plumb bridge attach",
		"plumb bridge attach (nftables)",
		"plumb bridge attach, all in one call",
		"plumb bridge attach, all in one call (nftables)",
		"bare ip batches, bash (floor)",
		"CNI ADD (cnitool)",
		"CNI ADD, plumb (plugin process)",
		"CNI ADD, reference bridge + host-local (plugin process)",
		"netavark setup",
	}
	teardownRows = []string{
		"plumb bridge detach",
		"plumb bridge detach (nftables)",
		"plumb bridge detach, all in one call",
		"plumb bridge detach, all in one call (nftables)",
		"CNI DEL (cnitool)",
		"CNI DEL, plumb (plugin process)",
		"CNI DEL, reference bridge + host-local (plugin process)",
		"netavark teardown",
		"ip link del of one veth (kernel floor)",
	}
)

// The scaling rows: N is what was already there (0 or SCALE) for one
// call, the number of objects for status, and the containers of the call
// for attach-all (ms per container).
const (
	scaleAttach    = "scale: plumb bridge attach of one"
	scaleDetach    = "scale: plumb bridge detach of one"
	scaleCNIAdd    = "scale: CNI ADD of one, plumb (plugin process)"
	scaleCNIDel    = "scale: CNI DEL of one, plumb (plugin process)"
	scaleStatus    = "scale: plumb status"
	scaleAttachAll = "scale: plumb bridge attach, all in one call"
	scaleDetachAll = "scale: plumb bridge detach, all in one call"
)

// The single-call rows (issue 21): one call and the same kernel work by
// its two ip batches from bash, taking turns in each run.
const (
	singleAttach      = "single: plumb bridge attach"
	singleAttachFloor = "single: attach's two ip batches, bash (floor)"
	singleAdd         = "single: CNI ADD, plumb (plugin process)"
	singleAddFloor    = "single: CNI ADD's two ip batches, bash (floor)"
)

// netTools are the network rows with samples: the known ones in order,
// then any others (a row this report does not know yet is shown, not
// dropped); neither the dry-run nor the scaling rows.
func netTools(s map[string]map[int][]float64) (setup, teardown []string) {
	known := map[string]bool{}
	for _, g := range []struct {
		rows []string
		to   *[]string
	}{{setupRows, &setup}, {teardownRows, &teardown}} {
		for _, t := range g.rows {
			known[t] = true
			if len(s[t]) > 0 {
				*g.to = append(*g.to, t)
			}
		}
	}
	var other []string
	for t := range s {
		if !known[t] && !strings.HasPrefix(t, "dry-run") && !strings.HasPrefix(t, "scale: ") && !strings.HasPrefix(t, "single: ") {
			other = append(other, t)
		}
	}
	sort.Strings(other)
	return setup, append(teardown, other...)
}

// isPlumb says whether a row times plumb (the CLI, or plumb as a CNI
// plugin), not one of its peers.
func isPlumb(t string) bool {
	return strings.HasPrefix(t, "plumb ") || strings.Contains(t, ", plumb ")
}

// sizesOf are the Ns the tools were run with, smallest first.
func sizesOf(s map[string]map[int][]float64, tools []string) []int {
	seen := map[int]bool{}
	var sizes []int
	for _, t := range tools {
		for n := range s[t] {
			if !seen[n] {
				seen[n] = true
				sizes = append(sizes, n)
			}
		}
	}
	sort.Ints(sizes)
	return sizes
}

// verdict says whether v meets "op target".
func verdict(v float64, op string, target float64) string {
	if v == 0 || math.IsNaN(v) {
		return "-"
	}
	if (op == "<=" && v <= target) || (op == "<" && v < target) {
		return "met"
	}
	return "NOT met"
}

// table prints the medians side by side, wall time and CPU time, the
// ratios against the targets, and the scaling figures.
func table(s, cpu map[string]map[int][]float64) {
	med := func(tool string, n int) float64 {
		if v := s[tool][n]; len(v) > 0 {
			return median(v)
		}
		return 0
	}
	setup, teardown := netTools(s)
	tools := append(append([]string(nil), setup...), teardown...)
	sizes := sizesOf(s, tools)
	runs := 0
	for _, t := range tools {
		for _, v := range s[t] {
			runs = max(runs, len(v))
		}
	}
	medians(s, setup, teardown, sizes, fmt.Sprintf("ms per container (wall), median of %d runs", runs))
	if len(s["plumb bridge attach (nftables)"]) == 0 {
		fmt.Println("(no nftables rows: the plumb binary measured has no nftables back end, --firewall)")
	}
	fmt.Print(`Each row is one call (one process) per container, but the document's (its 13 commands each) and
"all in one call" and the bare ip batches (one call, or batch, for all N). "plugin process":
the plugin exec'd as a runtime execs it, CNI_NETNS=/run/netns/cI, CNI_IFNAME=eth0, the config on
stdin (cniVersion 1.0.0, bridge cni0, isGateway, ipMasq, ipam host-local subnet 10.90.0.0/16;
plumb's the same with "type":"plumb" and no ipam dataDir); DEL without prevResult; the first ADD
of a run makes the bridge, for both (as cnitool's and netavark's first call do). netavark: Debian's
1.4.0, one static address each. Kernel floor: one ip link del of a veth whose peer is in the container.
`)
	fmt.Println()
	if len(cpu) > 0 {
		medians(cpu, setup, teardown, sizes, "CPU ms per container (user + system of every process the calls ran)")
		fmt.Println()
	}

	// The ratios, N by N, each against its target.
	type ratio struct {
		label, num, den, op string
		target              float64
	}
	ratios := []ratio{
		{"veth up / document", "plumb veth up", "document (bash)", "<=", 1.0 / 3},
		{"veth up's floor / document (for comparison)", "veth up's batches, bash (floor)", "document (bash)", "", 0},
		{"plumb CNI ADD / reference ADD (plugin processes)", "CNI ADD, plumb (plugin process)", "CNI ADD, reference bridge + host-local (plugin process)", "<=", 1.0 / 3},
		{"plumb CNI DEL / reference DEL (plugin processes)", "CNI DEL, plumb (plugin process)", "CNI DEL, reference bridge + host-local (plugin process)", "<=", 1.0 / 3},
		{"attach / cnitool ADD", "plumb bridge attach", "CNI ADD (cnitool)", "<=", 0.25},
		{"detach / cnitool DEL", "plumb bridge detach", "CNI DEL (cnitool)", "<=", 0.25},
		{"detach / ip link del of one veth (floor)", "plumb bridge detach", "ip link del of one veth (kernel floor)", "<=", 1.25},
		{"attach / netavark setup", "plumb bridge attach", "netavark setup", "<", 1},
		{"detach / netavark teardown", "plumb bridge detach", "netavark teardown", "<", 1},
	}
	if len(s["plumb bridge attach (nftables)"]) > 0 {
		for _, t := range []string{"plumb bridge attach", "plumb bridge detach", "plumb bridge attach, all in one call", "plumb bridge detach, all in one call"} {
			ratios = append(ratios, ratio{strings.TrimPrefix(t, "plumb bridge ") + ": nftables / iptables", t + " (nftables)", t, "", 0})
		}
	}
	const rw = 50
	var line strings.Builder
	cells := func(first string, vals []string) {
		line.Reset()
		line.WriteString(first)
		for _, v := range vals {
			fmt.Fprintf(&line, " %-14s", v)
		}
		fmt.Println(strings.TrimRight(line.String(), " "))
	}
	var head []string
	for _, n := range sizes {
		head = append(head, fmt.Sprintf("N=%d", n))
	}
	cells(fmt.Sprintf("%-*s %-10s", rw, "ratio", "target"), head)
	value := func(r ratio, n int) float64 {
		if a, b := med(r.num, n), med(r.den, n); a > 0 && b > 0 {
			return a / b
		}
		return 0
	}
	cell := func(v float64, op string, target float64) string {
		if v == 0 {
			return "-"
		}
		if op == "" {
			return fmt.Sprintf("%.2f", v)
		}
		return fmt.Sprintf("%.2f %s", v, verdict(v, op, target))
	}
	for _, r := range ratios {
		target := "-"
		if r.op != "" {
			target = fmt.Sprintf("%s %.2f", r.op, r.target)
		}
		var vals []string
		for _, n := range sizes {
			vals = append(vals, cell(value(r, n), r.op, r.target))
		}
		cells(fmt.Sprintf("%-*s %-10s", rw, r.label, target), vals)
		if r.num == "plumb bridge detach" && r.den == "ip link del of one veth (kernel floor)" {
			// The detach target: <= 1/4 of cnitool DEL, or within
			// 1.25x of the kernel's floor.
			var vals []string
			for _, n := range sizes {
				a, b := value(ratios[4], n), value(r, n)
				v := "-"
				if a > 0 || b > 0 {
					v = "NOT met"
					if verdict(a, "<=", 0.25) == "met" || verdict(b, "<=", 1.25) == "met" {
						v = "met"
					}
				}
				vals = append(vals, v)
			}
			cells(fmt.Sprintf("%-*s %-10s", rw, "detach target: either of the two above", ""), vals)
		}
	}
	if v := med("dry-run veth up", 1); v > 0 {
		b := med("dry-run bridge up", 1)
		fmt.Printf("--dry-run wall time, process start included: veth up %.2f ms, bridge up %.2f ms (target < 20 ms): %s\n",
			v, b, verdict(max(v, b), "<", 20))
	}
	if v := med("plumb bridge attach, all in one call", 200); v > 0 {
		fmt.Printf("bridge attach of 200 containers in one call: %.2f ms per container (target <= 3): %s; the same ip batches from bash: %.2f\n",
			v, verdict(v, "<=", 3), med("bare ip batches, bash (floor)", 200))
	}
	if v := med("plumb bridge attach, all in one call (nftables)", 200); v > 0 {
		fmt.Printf("bridge attach of 200 containers in one call, nftables: %.2f ms per container (target <= 3): %s\n", v, verdict(v, "<=", 3))
	}
	scaleTable(s, cpu)
	singleTable(s, cpu)
}

// singleTable prints one call against its floor: medians of wall and CPU
// time, the ratio, and the target (wall, <= 1.25).
func singleTable(s, cpu map[string]map[int][]float64) {
	runs := len(s[singleAttach][1])
	if runs == 0 {
		return
	}
	med := func(s map[string]map[int][]float64, tool string) float64 {
		if v := s[tool][1]; len(v) > 0 {
			return median(v)
		}
		return 0
	}
	ratio := func(a, b float64) float64 {
		if a > 0 && b > 0 {
			return a / b
		}
		return 0
	}
	fmt.Printf("\none call against its floor (the same ip batches from bash), taking turns, median of %d runs (ms)\n", runs)
	fmt.Printf("%-40s %8s %8s %6s %8s %8s %6s  %s\n", "", "wall", "floor", "ratio", "CPU", "floor", "ratio", "target (wall)")
	for _, r := range []struct{ label, tool, floor string }{
		{"plumb bridge attach, empty bridge", singleAttach, singleAttachFloor},
		{"CNI ADD, plumb (plugin process)", singleAdd, singleAddFloor},
	} {
		a, f := med(s, r.tool), med(s, r.floor)
		ca, cf := med(cpu, r.tool), med(cpu, r.floor)
		fmt.Printf("%-40s %8s %8s %6s %8s %8s %6s  <= 1.25 %s\n", r.label, num(a), num(f), num(ratio(a, f)),
			num(ca), num(cf), num(ratio(ca, cf)), verdict(ratio(a, f), "<=", 1.25))
	}
	// The fastest run of each: on a machine others load, what the medians
	// cannot show, the shape of the call when nothing waits for a CPU.
	for _, r := range []struct{ label, tool, floor string }{
		{"attach", singleAttach, singleAttachFloor},
		{"CNI ADD", singleAdd, singleAddFloor},
	} {
		if len(s[r.tool][1]) == 0 || len(s[r.floor][1]) == 0 {
			continue
		}
		a, f := slices.Min(s[r.tool][1]), slices.Min(s[r.floor][1])
		fmt.Printf("fastest of %d: %s %.2f ms, its floor %.2f ms (%.2f)\n", runs, r.label, a, f, a/f)
	}
}

// num is v with two decimals, or "-" for no value.
func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// medians prints a table of the tools' medians, N by N.
func medians(s map[string]map[int][]float64, setup, teardown []string, sizes []int, title string) {
	const w = 56
	fmt.Printf("%-*s", w, "tool")
	for _, n := range sizes {
		fmt.Printf(" %9s", fmt.Sprintf("N=%d", n))
	}
	fmt.Printf("   %s\n", title)
	for i, t := range append(append([]string(nil), setup...), teardown...) {
		if i == len(setup) {
			fmt.Println()
		}
		fmt.Printf("%-*s", w, t)
		for _, n := range sizes {
			if v := s[t][n]; len(v) > 0 {
				fmt.Printf(" %9.2f", median(v))
			} else {
				fmt.Printf(" %9s", "-")
			}
		}
		fmt.Println()
	}
}

// scaleOf is the SCALE the scaling rows were run with, and their runs.
func scaleOf(s map[string]map[int][]float64) (scale, runs int) {
	for n, v := range s[scaleAttach] {
		if n > scale {
			scale, runs = n, len(v)
		}
	}
	return scale, runs
}

// scaleTable prints each scaled call with nothing there and with SCALE
// there, the ratio and its target (wall time), and the same in CPU time.
func scaleTable(s, cpu map[string]map[int][]float64) {
	scale, runs := scaleOf(s)
	if scale == 0 {
		return
	}
	med := func(s map[string]map[int][]float64, tool string, n int) float64 {
		if v := s[tool][n]; len(v) > 0 {
			return median(v)
		}
		return 0
	}
	ratio := func(a, b float64) float64 {
		if a > 0 && b > 0 {
			return b / a
		}
		return 0
	}
	fmt.Printf("\nscaling: one call's cost with %d already there against none, median of %d runs (ms; attach-all and detach-all per container)\n", scale, runs)
	fmt.Printf("%-44s %-8s %8s %9s %6s %8s %9s %6s  %s\n", "", "baseline", "wall", fmt.Sprintf("w/ %d", scale), "ratio", "CPU", fmt.Sprintf("w/ %d", scale), "ratio", "target (wall)")
	type row struct {
		label, tool string
		base, at    int
		baseLabel   string
		op          string
		target      float64
		note        string
	}
	for _, r := range []row{
		{"plumb bridge attach of one container", scaleAttach, 0, scale, "empty", "<=", 1.25, ""},
		{"plumb bridge detach of one container", scaleDetach, 0, scale, "empty", "<=", 1.25, "(attach's bound; the issue names attach and ADD)"},
		{"CNI ADD of one, plumb (plugin process)", scaleCNIAdd, 0, scale, "none", "<=", 1.25, ""},
		{"CNI DEL of one, plumb (plugin process)", scaleCNIDel, 0, scale, "none", "<=", 1.25, "(ADD's bound; the issue names attach and ADD)"},
		{"bridge attach, all in one call", scaleAttachAll, 50, scale, "of 50", "<=", 1.25, ""},
		{"bridge detach, all in one call", scaleDetachAll, 50, scale, "of 50", "", 0, "(no target)"},
		{"plumb status", scaleStatus, 1, scale + 1, "1 obj", "<", 100, ""},
	} {
		a, b := med(s, r.tool, r.base), med(s, r.tool, r.at)
		ca, cb := med(cpu, r.tool, r.base), med(cpu, r.tool, r.at)
		target := ""
		switch {
		case r.tool == scaleStatus:
			target = fmt.Sprintf("%d objects < 100 ms: %s ", scale+1, verdict(b, r.op, r.target))
		case r.op != "":
			target = fmt.Sprintf("%s %.2f %s ", r.op, r.target, verdict(ratio(a, b), r.op, r.target))
		}
		fmt.Printf("%-44s %-8s %8s %9s %6s %8s %9s %6s  %s\n", r.label, r.baseLabel, num(a), num(b), num(ratio(a, b)),
			num(ca), num(cb), num(ratio(ca, cb)), strings.TrimSpace(target+r.note))
	}
}

// plotNet draws bench.png: ms per container against N, one line per tool,
// setting up and tearing down in a panel each (log scale: one call of
// 100 ms and a batch's 2 ms a container both readable), and, when the
// scaling part ran, one call's cost with nothing there against with SCALE.
func plotNet(samples map[string]map[int][]float64, out string) error {
	setup, teardown := netTools(samples)
	var row []*plot.Plot
	for _, g := range []struct {
		title string
		tools []string
	}{{"Setting up: ms per container", setup}, {"Tearing down: ms per container", teardown}} {
		p, err := linePlot(samples, g.title, g.tools)
		if err != nil {
			return err
		}
		row = append(row, p)
	}
	if p, err := scalePlot(samples); err != nil {
		return err
	} else if p != nil {
		row = append(row, p)
	}
	const h = 8 * vg.Inch
	w := vg.Length(len(row)) * 8 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// palette: Okabe-Ito's colours, told apart by colour-blind readers too.
var palette = []color.RGBA{{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}, {230, 159, 0, 255},
	{86, 180, 233, 255}, {0, 0, 0, 255}, {128, 128, 128, 255}, {153, 0, 0, 255}, {240, 228, 66, 255}, {102, 51, 153, 255}}

// linePlot is one panel of ms per container against N, a line per tool:
// plumb's solid, its peers' dashed; the nftables rows dotted.
func linePlot(samples map[string]map[int][]float64, title string, tools []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title + " (median)"
	p.Y.Label.Text = "ms per container (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	hi, lo := 0.0, math.Inf(1)
	var ticks []plot.Tick
	for _, n := range sizesOf(samples, tools) {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Label.Text = "containers (N, log scale)"
	for i, t := range tools {
		var ns []int
		for n := range samples[t] {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		pts := make(plotter.XYs, len(ns))
		for j, n := range ns {
			pts[j].X, pts[j].Y = float64(n), median(samples[t][n])
			hi, lo = max(hi, pts[j].Y), min(lo, pts[j].Y)
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(i)
		switch {
		case strings.Contains(t, "(nftables)"):
			line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		case !isPlumb(t):
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(t, line, points)
	}
	if hi > 0 {
		p.Y.Min, p.Y.Max = lo/1.5, hi*12 // room for the legend above the lines
	}
	if len(ticks) > 0 {
		p.X.Min, p.X.Max = ticks[0].Value/1.3, ticks[len(ticks)-1].Value*1.3
	}
	return p, nil
}

// scalePlot is the scaling panel: each call's median with nothing there
// (status: one object; attach-all: of 50) and with SCALE there, side by
// side; nil when the scaling part has not run.
func scalePlot(s map[string]map[int][]float64) (*plot.Plot, error) {
	scale, _ := scaleOf(s)
	if scale == 0 {
		return nil, nil
	}
	groups := []struct {
		name, tool string
		base, at   int
	}{
		{"attach\nof one", scaleAttach, 0, scale},
		{"detach\nof one", scaleDetach, 0, scale},
		{"CNI ADD\nof one", scaleCNIAdd, 0, scale},
		{"CNI DEL\nof one", scaleCNIDel, 0, scale},
		{"status", scaleStatus, 1, scale + 1},
		{"attach-all,\nper container", scaleAttachAll, 50, scale},
		{"detach-all,\nper container", scaleDetachAll, 50, scale},
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("One call with nothing there and with %d there (median ms)", scale)
	p.Y.Label.Text = "ms (attach-all, detach-all: per container)"
	p.Legend.Top = true
	w := vg.Points(22)
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	for i, series := range []string{"nothing there (status: 1 object; all in one call: 50)", fmt.Sprintf("%d there (status: %d objects; all in one call: %d)", scale, scale+1, scale)} {
		vals := make(plotter.Values, len(groups))
		for j, g := range groups {
			n := g.base
			if i == 1 {
				n = g.at
			}
			if v := s[g.tool][n]; len(v) > 0 {
				vals[j] = median(v)
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		bars.Color = palette[i]
		bars.Offset = vg.Length(float64(i)-0.5) * w
		p.Add(bars)
		p.Legend.Add(series, bars)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, p.Y.Max*1.25
	return p, nil
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
