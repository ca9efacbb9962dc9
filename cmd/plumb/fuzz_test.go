package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
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
		"--state-dir /tmp/s --log-level debug bridge detach br0 --pid 7",
		"down bridge",
		"run c1 --image x --bridge br0 -e A=1 sh",
		"image ls",
		"cni plan --output sh",
		"status -o json",
		"bridge attach br0 --from - veth",
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
		var fast CLI
		fastCtx, _ := parseNamed(&fast, args, io.Discard, io.Discard)
		kctx, err := parser.Parse(args)
		if err != nil {
			if fastCtx != nil {
				t.Fatalf("parseNamed took %q, which the whole tree refuses: %v", args, err)
			}
			return
		}
		if fastCtx != nil {
			if fastCtx.Command() != kctx.Command() {
				t.Fatalf("parseNamed of %q: %s; the whole tree: %s", args, fastCtx.Command(), kctx.Command())
			}
			// The globals and the command run must be equal; the other
			// commands' fields are not parsed by parseNamed, and not used.
			if msg := sameParse(reflect.ValueOf(fast), reflect.ValueOf(cli), strings.Fields(kctx.Command())); msg != "" {
				t.Fatalf("parseNamed of %q: %s", args, msg)
			}
		}
		switch kctx.Command() {
		case "veth up":
			v := cli.Veth.Up.recipe()
			v.Uplink = "eth0"
			plansSomething(t, v)
		case "overlay mount":
			plansSomething(t, cli.Overlay.Mount.recipe())
		case "bridge up <name>":
			if b, err := cli.Bridge.Up.recipe(); err == nil {
				plansSomething(t, b)
			}
		}
	})
}

// plansSomething fails when a recipe accepts its input but plans nothing.
func plansSomething(t *testing.T, rc plan.Recipe) {
	if rc.Check() != nil {
		return
	}
	env := plan.Env{R: actions.Exec{}, St: plan.NewStore("/run/plumb")}
	var plans []*plan.Plan
	_, err := plan.Allocate(context.Background(), env, rc, false)
	if err == nil {
		plans, err = rc.Plan(context.Background(), env)
	}
	if err == nil && (len(plans) == 0 || len(plans[0].Steps) == 0) {
		t.Fatal("accepted input planned nothing")
	}
}

// sameParse compares two parses of one command line: every field that is
// not a command, and of the commands only the one path names, level by
// level. "" when they agree.
func sameParse(fast, whole reflect.Value, path []string) string {
	t := whole.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, isCmd := f.Tag.Lookup("cmd"); isCmd {
			if len(path) == 0 || commandName(f) != path[0] {
				continue
			}
			if msg := sameParse(fast.Field(i), whole.Field(i), path[1:]); msg != "" {
				return f.Name + "." + msg
			}
			continue
		}
		if !reflect.DeepEqual(fast.Field(i).Interface(), whole.Field(i).Interface()) {
			return fmt.Sprintf("%s = %+v; the whole tree: %+v", f.Name, fast.Field(i), whole.Field(i))
		}
	}
	return ""
}
