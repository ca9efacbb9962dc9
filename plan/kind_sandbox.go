package plan

import (
	"fmt"
	"path/filepath"
	"strings"

	"plumb/actions"
)

// SandboxKind is a sandbox's, as CRI names it: the network namespace its
// containers run in, its place on a bridge, and the /etc files (hostname,
// hosts, resolv.conf) they bind. `plumb run` makes one for each container
// with a network of its own, named after it; those run with --net
// container:NAME join it. It lives while any of them does, and goes with
// the last (see Held).
var SandboxKind = Register(sandboxKind{})

type sandboxKind struct{ FactsCodec[SandboxFacts] }

func (sandboxKind) Name() string      { return "sandbox" }
func (sandboxKind) FactsVersion() int { return 1 }

// SandboxFacts are a sandbox's: its network namespace (by name), hostname,
// the directory of its /etc files and, on a bridge, its attachment.
type SandboxFacts struct {
	Netns    string           `json:"netns"`
	Hostname string           `json:"hostname"`
	Dir      string           `json:"dir"`
	Net      *AttachmentFacts `json:"net"` // nil: loopback alone
}

// Kind is SandboxKind.
func (SandboxFacts) Kind() Kind { return SandboxKind }

// Etc are the files its containers bind onto their /etc.
func (f SandboxFacts) Etc() actions.EtcFiles { return SandboxAt(f.Dir) }

// SandboxAt are the /etc files of the sandbox directory dir.
func SandboxAt(dir string) actions.EtcFiles {
	return actions.EtcFiles{Hostname: filepath.Join(dir, "hostname"), Hosts: filepath.Join(dir, "hosts"), Resolv: filepath.Join(dir, "resolv.conf")}
}

// SandboxDir is sandbox name's directory, beside the containers' roots.
func (l Layout) SandboxDir(name string) string {
	return filepath.Join(l.RootDir(), "sandbox", name)
}

// DecodeDetails: sandboxes came after typed facts, so no journal keeps
// one in the map form; the keys read are what such a one would hold.
func (sandboxKind) DecodeDetails(d *DetailsReader) Facts {
	return SandboxFacts{Netns: d.S("netns"), Hostname: d.S("hostname"), Dir: d.S("dir")}
}

// SelfNamed: a sandbox answers on its network to its name, its first
// container's.
func (sandboxKind) SelfNamed() {}

// Held: a sandbox is there for its containers.
func (sandboxKind) Held() {}

func (sandboxKind) Attachment(f Facts) (AttachmentFacts, bool) {
	s, _ := f.(SandboxFacts)
	return held(s.Net).attachment()
}

func (sandboxKind) IndexEntries(l Layout, f Facts) []string {
	s, _ := f.(SandboxFacts)
	return held(s.Net).indexEntries(l)
}

func (sandboxKind) Rules(f Facts) (rules, bridged bool) {
	s, _ := f.(SandboxFacts)
	return held(s.Net).rules()
}

func (sandboxKind) Firewall(f Facts) string {
	s, _ := f.(SandboxFacts)
	return held(s.Net).firewall()
}

// held is the attachment a record holds in its facts, nil for none (a
// sandbox with loopback alone, a container with --net none), as the
// capabilities of the kinds that hold one see it.
func held(n *AttachmentFacts) heldNet { return heldNet{n} }

type heldNet struct{ n *AttachmentFacts }

func (h heldNet) attachment() (AttachmentFacts, bool) {
	if h.n == nil {
		return AttachmentFacts{}, false
	}
	return *h.n, true
}

func (h heldNet) indexEntries(l Layout) []string {
	if h.n == nil {
		return nil
	}
	return h.n.indexEntries(l)
}

// rules: on a bridge, an attachment's rules; with none, none.
func (h heldNet) rules() (rules, bridged bool) { return h.n != nil, h.n != nil }

func (h heldNet) firewall() string {
	if h.n == nil {
		return ""
	}
	return h.n.Firewall
}

// Dependents are the containers that run in it, whatever their state:
// an exited one's inspect still shows its network.
func (sandboxKind) Dependents(st *Store, rec *Record, _ Facts) []*Record {
	return holders(st, func(f ContainerFacts) bool { return f.Sandbox == rec.Name })
}

// holders are the containers whose facts match, and those whose facts
// cannot be read: they may hold it, and an object taken for held by
// nothing is undone by recover (see Orphans).
func holders(st *Store, match func(ContainerFacts) bool) []*Record {
	recs, _ := st.Headers()
	var out []*Record
	for _, r := range OfKind(recs, ContainerKind) {
		if f, err := r.Container(); err != nil || match(f) {
			out = append(out, r)
		}
	}
	return out
}

// Sandbox is a sandbox record's facts.
func (r *Record) Sandbox() (SandboxFacts, error) {
	if !r.Is(SandboxKind) {
		return SandboxFacts{}, &Refused{Msg: r.ID() + " is not a sandbox"}
	}
	f, err := r.Facts()
	if err != nil {
		return SandboxFacts{}, err
	}
	return f.(SandboxFacts), nil
}

// BeforeDown refuses a sandbox that containers not removed with it still
// run in: it goes with the last of them.
func (k sandboxKind) BeforeDown(env Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	return nil, stillHeld(rec, opts.notRemoved(k.Dependents(env.St, rec, nil)))
}

// stillHeld refuses the removal of rec, held by holders (if any).
func stillHeld(rec *Record, holders []*Record) error {
	if len(holders) == 0 {
		return nil
	}
	return &Refused{Msg: fmt.Sprintf("%s is held by %s, and goes with the last of them: plumb rm -f %s", rec.ID(), strings.Join(recordIDs(holders), ", "), strings.Join(namesOf(holders), " "))}
}
