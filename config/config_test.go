package config

import (
	"testing"
	"time"

	"plumb/plan"
)

// TestConfig: the runner and the plan environment follow the Config.
func TestConfig(t *testing.T) {
	c := Config{StateDir: t.TempDir(), Exec: plan.Each, Wait: 3 * time.Second, Proc: "/fake/proc", SelfPath: "/bin/plumb-test"}
	r := c.Runner()
	if !r.ProbeByCommand || r.SelfPath != "/bin/plumb-test" {
		t.Errorf("runner %+v", r)
	}
	if (Config{}).Runner().ProbeByCommand {
		t.Error("a batched Config's runner probes by command")
	}
	st := c.Store()
	env := c.Env(r, st)
	if env.St != st || env.Wait != c.Wait || env.Mode != plan.Each || env.Proc != "/fake/proc" || env.Warned == nil {
		t.Errorf("env %+v", env)
	}
	if c.Env(r, st).Warned == env.Warned {
		t.Error("two calls share their warnings")
	}
}
