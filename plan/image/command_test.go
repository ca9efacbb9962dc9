package image

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCommand follows the table in Docker's reference, "Understand how CMD and ENTRYPOINT
// interact" (https://docs.docker.com/reference/dockerfile/#understand-how-cmd-and-entrypoint-interact),
// and `docker run IMAGE ARG...`: arguments replace CMD and follow ENTRYPOINT. A Dockerfile's
// shell form is stored in the config as ["/bin/sh", "-c", "the line"], so the rows with a
// shell form are written here as the config holds them.
func TestCommand(t *testing.T) {
	var (
		entryExec  = []string{"exec_entry", "p1_entry"}
		entryShell = []string{"/bin/sh", "-c", "exec_entry p1_entry"}
		cmdExec    = []string{"exec_cmd", "p1_cmd"}
		cmdShell   = []string{"/bin/sh", "-c", "exec_cmd p1_cmd"}
	)
	for _, tc := range []struct {
		name       string
		entrypoint []string
		cmd        []string
		override   []string
		want       []string
	}{
		// Docker's table, row "No CMD".
		{name: "no ENTRYPOINT, no CMD: error, not allowed", want: nil},
		{name: "ENTRYPOINT shell, no CMD", entrypoint: entryShell,
			want: []string{"/bin/sh", "-c", "exec_entry p1_entry"}},
		{name: "ENTRYPOINT exec, no CMD", entrypoint: entryExec,
			want: []string{"exec_entry", "p1_entry"}},
		// Row CMD ["exec_cmd", "p1_cmd"].
		{name: "no ENTRYPOINT, CMD exec", cmd: cmdExec,
			want: []string{"exec_cmd", "p1_cmd"}},
		// The table shows "/bin/sh -c exec_entry p1_entry": CMD is passed on, but sh -c makes
		// the words after its command string $0, $1..., which the command ignores.
		{name: "ENTRYPOINT shell, CMD exec", entrypoint: entryShell, cmd: cmdExec,
			want: []string{"/bin/sh", "-c", "exec_entry p1_entry", "exec_cmd", "p1_cmd"}},
		{name: "ENTRYPOINT exec, CMD exec", entrypoint: entryExec, cmd: cmdExec,
			want: []string{"exec_entry", "p1_entry", "exec_cmd", "p1_cmd"}},
		// Row CMD exec_cmd p1_cmd (shell form).
		{name: "no ENTRYPOINT, CMD shell", cmd: cmdShell,
			want: []string{"/bin/sh", "-c", "exec_cmd p1_cmd"}},
		{name: "ENTRYPOINT shell, CMD shell", entrypoint: entryShell, cmd: cmdShell,
			want: []string{"/bin/sh", "-c", "exec_entry p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"}},
		{name: "ENTRYPOINT exec, CMD shell", entrypoint: entryExec, cmd: cmdShell,
			want: []string{"exec_entry", "p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"}},

		// docker run IMAGE ARG...: the arguments replace CMD; ENTRYPOINT stays.
		{name: "run args replace CMD", cmd: cmdExec, override: []string{"ls", "-l"},
			want: []string{"ls", "-l"}},
		{name: "run args follow ENTRYPOINT, CMD dropped", entrypoint: entryExec, cmd: cmdExec, override: []string{"-v"},
			want: []string{"exec_entry", "p1_entry", "-v"}},
		{name: "run args without CMD", entrypoint: entryExec, override: []string{"-v"},
			want: []string{"exec_entry", "p1_entry", "-v"}},
		{name: "run args, image has neither", override: []string{"sh"},
			want: []string{"sh"}},
		{name: "empty args are no args", entrypoint: entryExec, cmd: cmdExec, override: []string{},
			want: []string{"exec_entry", "p1_entry", "exec_cmd", "p1_cmd"}},
		{name: "busybox: CMD sh", cmd: []string{"sh"},
			want: []string{"sh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Entrypoint: tc.entrypoint, Cmd: tc.cmd}
			got := c.Command(tc.override)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Command(%q) (-want +got):\n%s", tc.override, diff)
			}
			if tc.want == nil && got != nil {
				t.Errorf("got %q, want nil: nothing to run", got)
			}
			// The image's own slices are never written through.
			if len(c.Entrypoint) > 0 && len(got) > 0 {
				got[0] = "changed"
				if c.Entrypoint[0] == "changed" {
					t.Error("Command returned the config's Entrypoint slice")
				}
			}
		})
	}
}
