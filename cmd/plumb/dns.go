package main

import (
	"fmt"
	"net/netip"
	"os"

	"plumb/actions"
	"plumb/resolver"
)

// DNSCmd is `plumb dns`: a network's resolver, started and stopped by the
// steps of `bridge up --dns` (and of Compose's networks).
type DNSCmd struct {
	Start DNSStartCmd `cmd:"" help:"Start a network's resolver in the background; return once it listens."`
	Stop  DNSStopCmd  `cmd:"" help:"Stop a network's resolver."`
	Serve DNSServeCmd `cmd:"" help:"Answer a network's names (what start runs in the background)."`
}

// DNSServeCmd is `plumb dns serve`.
type DNSServeCmd struct {
	Network    string     `arg:"" predictor:"bridge" help:"The bridge whose containers' names it answers."`
	Listen     netip.Addr `name:"listen" required:"" placeholder:"IP" help:"The address to listen on, port 53 (the bridge's gateway)."`
	ResolvConf string     `name:"resolv-conf" default:"/etc/resolv.conf" placeholder:"PATH" help:"Where the host's nameservers are, asked for other names."`
	Internal   bool       `name:"internal" help:"Answer the network's names alone and refuse the rest: an internal network's containers ask no nameserver beyond it, as on Docker's."`
}

// Run serves until SIGTERM; it says "ok" on descriptor 3, when given, once
// it listens (see actions.StartResolver).
func (c *DNSServeCmd) Run(d *deps) error {
	status := os.NewFile(3, "status")
	if _, err := status.Stat(); err != nil {
		status = nil
	}
	s := &resolver.Server{Layout: d.store.Layout, Network: c.Network, Listen: c.Listen}
	if !c.Internal {
		s.Upstream = resolver.Upstreams(c.ResolvConf)
	}
	err := s.Serve(d.ctx, func() {
		if status != nil {
			fmt.Fprint(status, "ok\n")
			status.Close()
		}
	})
	if err != nil && status != nil {
		fmt.Fprintf(status, "fail %v\n", err)
	}
	return err
}

// DNSStartCmd is `plumb dns start`.
type DNSStartCmd struct {
	Network    string     `arg:"" predictor:"bridge" help:"The bridge whose containers' names it answers."`
	Listen     netip.Addr `name:"listen" required:"" placeholder:"IP" help:"The address to listen on, port 53 (the bridge's gateway)."`
	PIDFile    string     `name:"pid-file" required:"" placeholder:"FILE" help:"Where its PID is written."`
	ResolvConf string     `name:"resolv-conf" env:"PLUMB_RESOLV_CONF" default:"/etc/resolv.conf" placeholder:"PATH" help:"Where the host's nameservers are, asked for other names."`
	Internal   bool       `name:"internal" help:"Answer the network's names alone and refuse the rest: an internal network's containers ask no nameserver beyond it, as on Docker's."`
}

// Run starts the resolver.
func (c *DNSStartCmd) Run(d *deps) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"--state-dir", d.store.Layout.Dir, "dns", "serve", "--listen", c.Listen.String(), "--resolv-conf", c.ResolvConf}
	if c.Internal {
		args = append(args, "--internal")
	}
	args = append(args, c.Network)
	return actions.StartResolver(self, args, c.PIDFile)
}

// DNSStopCmd is `plumb dns stop`.
type DNSStopCmd struct {
	Network string `arg:"" predictor:"bridge" help:"The bridge whose resolver it is."`
	PIDFile string `name:"pid-file" required:"" placeholder:"FILE" help:"The file its PID was written to."`
}

// Run stops the resolver; one already gone is no error.
func (c *DNSStopCmd) Run(d *deps) error {
	return actions.StopResolver(c.PIDFile, func(pid int) bool { return actions.ResolverAlive(pid, c.Network) })
}
