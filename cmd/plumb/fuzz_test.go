package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"plumb/actions"
	"plumb/plan"
)

// FuzzFlags parses arbitrary command lines and plans what they ask for, as
// --dry-run would, without running anything: never a panic, and a refused
// input is an error, not a half-built plan.
func FuzzFlags(f *testing.F) {
	for _, seed := range []string{
		"veth up --pid 4242 --uplink eth0",
		"veth up --netns ctr --no-nat --subnet 10.1.0.0/30 --host-ip 10.1.0.1 --cont-ip 10.1.0.2",
		"veth up --pid 1 --host-if a/b",
		"overlay mount --lower /l1 --lower /l2 --upper /u --work /w --merged /m",
		"overlay mount --lower /a:b --lower /c,d --merged /m n",
		"bridge up br0 --subnet 10.88.0.0/24 --mtu 1400",
		"bridge attach br0 --pid 1 --publish 8080:80/udp --ip 10.88.0.9",
		"veth up --pid 4242 --subnet 10.200.0.9/24 --cont-ip 10.200.0.255",
	} {
		f.Add(strings.ReplaceAll(seed, " ", "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		var cli CLI
		parser, err := newParser(&cli, io.Discard, io.Discard, func(int) {})
		if err != nil {
			t.Fatal(err)
		}
		kctx, err := parser.Parse(args)
		if err != nil {
			return
		}
		switch kctx.Command() {
		case "veth up":
			v := cli.Veth.Up.recipe()
			v.Uplink = "eth0"
			plansSomething(t, v)
		case "overlay mount":
			plansSomething(t, cli.Overlay.Mount.recipe())
		case "bridge up <name>":
			plansSomething(t, cli.Bridge.Up.recipe())
		}
	})
}

// plansSomething fails when a recipe accepts its input but plans nothing.
func plansSomething(t *testing.T, rc plan.Recipe) {
	if rc.Check() != nil {
		return
	}
	env := plan.Env{R: actions.Exec{}, St: plan.NewStore("/run/plumb")}
	plans, err := rc.Plan(context.Background(), env)
	if err == nil && (len(plans) == 0 || len(plans[0].Steps) == 0) {
		t.Fatal("accepted input planned nothing")
	}
}
