package view

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"plumb/compose"
	"plumb/plan"
)

// ComposePs writes `plumb compose ps`: the project's containers named
// (names, sorted), with their service, state, address, bridge and ports,
// then a line for each network whose bridge has another name.
func ComposePs(w io.Writer, st *plan.Store, p *compose.Project, cur *compose.Current, names []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tSTATE\tPID\tADDRESS\tBRIDGE\tPORTS")
	for _, n := range names {
		rec := cur.Containers[n]
		f, err := st.ContainerOf(rec)
		if err != nil {
			return err
		}
		pid, state := plan.ContainerState(rec)
		addr, bridge, ports := "-", "-", ""
		if f.Net != nil {
			addr, bridge = f.Net.IP.String(), f.Net.Bridge
			var ps []string
			for _, p := range f.Net.Ports {
				ps = append(ps, p.String())
			}
			ports = strings.Join(ps, ",")
		}
		fmt.Fprintln(tw, strings.Join([]string{n, f.Labels[compose.LabelService], state, fmt.Sprint(pid), addr, bridge, ports}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range p.Networks {
		if n.Bridge.String() != n.Name {
			if _, err := fmt.Fprintf(w, "network %s is bridge %s\n", n.Name, n.Bridge); err != nil {
				return err
			}
		}
	}
	return nil
}
