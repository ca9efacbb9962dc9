package view

import (
	"errors"
	"fmt"
	"io"

	"plumb/plan"
)

// PsRow is one container as `plumb ps` lists it.
type PsRow struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	State   string `json:"state"`
	IP      string `json:"ip"`
	Network string `json:"network"`
	Command string `json:"command"`
	// ExitCode is a detached container's status once its command ended,
	// as its shim saw it (docker ps's "Exited (N)").
	ExitCode *int `json:"exit_code,omitempty"`
}

// Ps lists st's containers, as docker ps: those not exited, or all of
// them (-a); one whose command ended on its own shows as exited, with its
// status when its shim saw it. A container whose plan is not finished is
// always listed. It reads each journal's header (plan.Store.Headers), which holds
// all it shows, not its steps: decoding every step of every journal took
// seconds with a thousand objects on a busy host. A container whose facts
// cannot be read is listed with what its header says, and named in the
// table's Err.
func Ps(st *plan.Store, all bool) (Table[PsRow], error) {
	recs, errs, err := headers(st)
	if err != nil {
		return Table[PsRow]{}, err
	}
	t := Table[PsRow]{Rows: []PsRow{}, key: "containers", header: "NAME\tPID\tSTATE\tIP\tNETWORK\tCOMMAND", row: func(w io.Writer, e PsRow) {
		state := e.State
		if e.ExitCode != nil {
			state = fmt.Sprintf("%s (%d)", state, *e.ExitCode)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Name, e.PID, state, OrNone(e.IP), e.Network, e.Command)
	}}
	for _, r := range plan.OfKind(recs, plan.ContainerKind) {
		pid, state := plan.ContainerState(r)
		if r.State != plan.StateUp {
			state = string(r.State)
		}
		f, err := st.ContainerOf(r)
		if err != nil {
			errs = append(errs, err)
		}
		if state == "exited" {
			pid = 0 // as docker inspect's State.Pid: the PID was its, and may be another's now
		}
		network, ip := "none", ""
		if f.Net != nil {
			network, ip = f.Net.Bridge, f.Net.IP.String()
		} else if f.NetworkMode != "" {
			network = f.NetworkMode
		}
		if state == "exited" && !all {
			continue
		}
		row := PsRow{Name: r.Name, PID: pid, State: state, IP: ip, Network: network, Command: f.Cmd}
		if st, ok := plan.ContainerExit(r); ok && state == "exited" {
			row.ExitCode = &st.ExitCode
		}
		t.Rows = append(t.Rows, row)
	}
	t.Err = errors.Join(errs...)
	return t, nil
}
