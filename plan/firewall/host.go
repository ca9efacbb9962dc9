package firewall

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"plumb/actions"
)

// Host is what the host's other firewalls look like, read to warn of what
// would silently drop the traffic plumb accepts (nftables.md, "Living
// beside iptables"): rules in the iptables variant plumb does not write
// (legacy beside nf_tables, the "split brain"), a FORWARD policy of DROP,
// another nft forward chain whose policy is drop, and br_netfilter sending
// bridged traffic through them. Reading only: /proc where it answers, and a
// listing only where something is there to list.
type Host struct {
	R    actions.Runner
	Proc string // "/proc", or a test's stand-in
	// Variant is the iptables plumb runs: "nft" or "legacy"; "" finds it
	// from where `iptables` on PATH leads (Debian's alternatives).
	Variant string
	// Nft says whether the nft command is there; nil looks on PATH.
	Nft func() bool
	// Backend is the back end plumb writes with: "nftables" words the
	// warnings for plumb's own nft tables; anything else is iptables.
	Backend string
}

// Warnings are the host's traps, each a sentence naming what was seen and
// what to do. bridged: the command puts containers on a bridge, where
// br_netfilter matters. writes: the command writes rules, so the policies
// that would drop what they accept are read too; a command that writes no
// rule (an attach without ports) reads only what /proc answers, at no cost
// of a process on a clean host.
func (h Host) Warnings(ctx context.Context, bridged, writes bool) []string {
	proc := h.Proc
	if proc == "" {
		proc = "/proc"
	}
	variant := h.Variant
	if variant == "" {
		variant = iptablesVariant()
	}
	nft := h.Nft
	if nft == nil {
		_, err := exec.LookPath("nft")
		nft = func() bool { return err == nil }
	}
	if h.Backend == "nftables" {
		return append(h.besideNft(ctx, proc, writes, nft), bridgeNetfilter(proc, bridged)...)
	}
	var out []string
	// The variant plumb writes: its FORWARD policy. iptables-nft's FORWARD
	// is an nft chain, so the one listing of nft's chains below answers it
	// with the others; legacy's is asked of iptables itself.
	chains := h.listChains(ctx, writes, nft)
	forwardDrop := false
	if writes && (variant == "legacy" || chains == nil) {
		b, err := h.R.Run(ctx, []string{"iptables", "-S", "FORWARD"}, nil)
		forwardDrop = err == nil && strings.Contains(string(b), "-P FORWARD DROP")
	} else if chains != nil {
		forwardDrop = iptablesForwardDrop(chains)
	}
	if forwardDrop {
		out = append(out, fmt.Sprintf("iptables (%s) has FORWARD policy DROP: forwarded traffic that no rule accepts is dropped; plumb accepts its own networks' traffic, but check that nothing else of yours relies on it", variant))
	}
	// The other variant: legacy's tables are listed in /proc once loaded.
	if variant != "legacy" && tables(filepath.Join(proc, "net/ip_tables_names")) {
		if rules, drop, ok := h.savedRules(ctx, "iptables-legacy-save"); ok {
			if rules > 0 {
				out = append(out, fmt.Sprintf("iptables-legacy holds %d rules while plumb writes iptables-nft: each set is invisible to the other's tools and both apply (the split brain); list them with iptables-legacy-save, and move them to one variant", rules))
			}
			if drop {
				out = append(out, "iptables-legacy has FORWARD policy DROP: it drops containers' forwarded traffic whatever plumb accepts in iptables-nft; set it to ACCEPT (iptables-legacy -P FORWARD ACCEPT) or accept plumb's networks there")
			}
		}
	}
	if variant == "legacy" && writes {
		if rules, drop, ok := h.savedRules(ctx, "iptables-nft-save"); ok {
			if rules > 0 {
				out = append(out, fmt.Sprintf("iptables-nft holds %d rules while plumb writes iptables-legacy: each set is invisible to the other's tools and both apply (the split brain); list them with iptables-nft-save, and move them to one variant", rules))
			}
			if drop {
				out = append(out, "iptables-nft has FORWARD policy DROP: it drops containers' forwarded traffic whatever plumb accepts in iptables-legacy; set it to ACCEPT or accept plumb's networks there")
			}
		}
	}
	// Other nft forward chains (iptables-nft's own FORWARD is the one above).
	for _, c := range dropChains(chains) {
		out = append(out, fmt.Sprintf("nft chain %s hooks forward with policy drop: an accept elsewhere does not outlive it, so it drops containers' forwarded traffic unless it accepts it itself (nft list chain %s)", c, c))
	}
	return append(out, bridgeNetfilter(proc, bridged)...)
}

// listChains is nft's one listing of every chain, when the command writes
// rules and nft is there; nil otherwise.
func (h Host) listChains(ctx context.Context, writes bool, nft func() bool) []byte {
	if !writes || !nft() {
		return nil
	}
	b, err := h.R.Run(ctx, []string{"nft", "-j", "list", "chains"}, nil)
	if err != nil {
		return nil
	}
	return b
}

// savedRules reads the other iptables variant with its save tool: how many
// rules it holds and whether its FORWARD policy is DROP; false when it
// cannot be read.
func (h Host) savedRules(ctx context.Context, tool string) (rules int, forwardDrop, ok bool) {
	b, err := h.R.Run(ctx, []string{tool}, nil)
	if err != nil {
		return 0, false, false
	}
	rules, forwardDrop = saved(string(b))
	return rules, forwardDrop, true
}

// bridgeNetfilter warns of br_netfilter on a bridged command.
func bridgeNetfilter(proc string, bridged bool) []string {
	if bridged {
		if b, err := os.ReadFile(filepath.Join(proc, "sys/net/bridge/bridge-nf-call-iptables")); err == nil && strings.TrimSpace(string(b)) == "1" {
			return []string{"net.bridge.bridge-nf-call-iptables is 1 (br_netfilter): traffic between containers on one bridge also passes iptables' FORWARD chain, so a DROP there stops it; set it to 0 if nothing needs it (sysctl -w net.bridge.bridge-nf-call-iptables=0)"}
		}
	}
	return nil
}

// besideNft are the warnings when plumb writes its rules in nft tables of
// its own: the same traps as for iptables-nft, said for nft. An accept in
// plumb's table does not outlive a drop in any other table's forward hook:
// iptables-nft's FORWARD (one chain of nft's listing), another nft table's
// chain, or iptables-legacy's FORWARD (invisible to nft: the split brain).
// The same reads: one `nft -j list chains` when the command writes rules,
// /proc's list of legacy tables, and iptables-legacy-save only when it
// names one.
func (h Host) besideNft(ctx context.Context, proc string, writes bool, nft func() bool) []string {
	var out []string
	chains := h.listChains(ctx, writes, nft)
	if iptablesForwardDrop(chains) {
		out = append(out, "iptables-nft has FORWARD policy DROP: an accept in plumb's own nft table does not outlive it, so it drops containers' forwarded traffic; set it to ACCEPT (iptables -P FORWARD ACCEPT) or accept plumb's networks there")
	}
	if tables(filepath.Join(proc, "net/ip_tables_names")) {
		if rules, drop, ok := h.savedRules(ctx, "iptables-legacy-save"); ok {
			if rules > 0 {
				out = append(out, fmt.Sprintf("iptables-legacy holds %d rules while plumb writes nftables: they are invisible to nft list ruleset and both apply (the split brain); list them with iptables-legacy-save, and move them to nft or iptables-nft", rules))
			}
			if drop {
				out = append(out, "iptables-legacy has FORWARD policy DROP: it drops containers' forwarded traffic whatever plumb accepts in its nft tables; set it to ACCEPT (iptables-legacy -P FORWARD ACCEPT) or accept plumb's networks there")
			}
		}
	}
	for _, c := range dropChains(chains) {
		out = append(out, fmt.Sprintf("nft chain %s hooks forward with policy drop: an accept in plumb's own table does not outlive it, so it drops containers' forwarded traffic unless it accepts it itself (nft list chain %s)", c, c))
	}
	return out
}

// MTUWarning warns when the uplink's MTU (up, as the host's link list
// gives it; 0: unknown) is smaller than the bridge's (bridgeMTU; 0 is a new
// bridge's and its veth pairs', 1500): containers send packets the uplink
// cannot carry whole, and without ICMP getting back to them large
// transfers to the outside stall. "" when all is well. (Not read from
// /sys/class/net: in a network namespace whose /sys was not mounted again,
// /sys shows another namespace's links, and warned of one that was not
// there.)
func MTUWarning(uplink string, up, bridgeMTU int) string {
	if bridgeMTU == 0 {
		bridgeMTU = 1500
	}
	if up == 0 || up >= bridgeMTU {
		return ""
	}
	return fmt.Sprintf("the uplink %s's MTU %d is smaller than the bridge's %d: containers' large packets to the outside will be fragmented or dropped (give bridge up --mtu %d)", uplink, up, bridgeMTU, up)
}

// iptablesVariant is "legacy" when `iptables` on PATH leads to the legacy
// binary, else "nft" (Debian's default since bullseye).
func iptablesVariant() string {
	p, err := exec.LookPath("iptables")
	if err != nil {
		return "nft"
	}
	if real, err := filepath.EvalSymlinks(p); err == nil && strings.Contains(filepath.Base(real), "legacy") {
		return "legacy"
	}
	return "nft"
}

// tables reports whether a /proc list of loaded legacy tables names any:
// it is empty until something uses legacy iptables.
func tables(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(b)) != ""
}

// saved counts the rules of an iptables-save output and says whether its
// filter table's FORWARD policy is DROP.
func saved(s string) (rules int, forwardDrop bool) {
	table := ""
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		case strings.HasPrefix(l, "-A "):
			rules++
		case table == "filter" && strings.HasPrefix(l, ":FORWARD DROP"):
			forwardDrop = true
		}
	}
	return rules, forwardDrop
}

// dropChains are the base chains of `nft -j list chains` that hook forward
// with policy drop, as FAMILY TABLE CHAIN, but iptables-nft's own FORWARD
// chains (their policy is iptables', warned of as such).
func dropChains(b []byte) []string {
	var out []string
	for _, c := range forwardChains(b) {
		if c.Policy == "drop" && !c.iptables() {
			out = append(out, c.Family+" "+c.Table+" "+c.Name)
		}
	}
	return out
}

// iptablesForwardDrop says whether iptables-nft's own FORWARD chain, as
// `nft -j list chains` shows it, has policy drop.
func iptablesForwardDrop(b []byte) bool {
	for _, c := range forwardChains(b) {
		if c.Policy == "drop" && c.iptables() {
			return true
		}
	}
	return false
}

type nftChain struct{ Family, Table, Name, Hook, Policy string }

// iptables: the chain is iptables-nft's FORWARD.
func (c nftChain) iptables() bool {
	return (c.Family == "ip" || c.Family == "ip6") && c.Table == "filter" && c.Name == "FORWARD"
}

// forwardChains are the base chains of `nft -j list chains` that hook forward.
func forwardChains(b []byte) []nftChain { return hookChains(b, "forward") }

// hookChains are the base chains of `nft -j list chains` on hook.
func hookChains(b []byte, hook string) []nftChain {
	var doc struct {
		Nftables []struct {
			Chain *nftChain `json:"chain"`
		} `json:"nftables"`
	}
	if len(b) == 0 || json.Unmarshal(b, &doc) != nil {
		return nil
	}
	var out []nftChain
	for _, e := range doc.Nftables {
		if e.Chain != nil && e.Chain.Hook == hook {
			out = append(out, *e.Chain)
		}
	}
	return out
}

// InputDrops are the host's chains that drop by their policy what reaches
// the host and no rule of theirs accepts, each as "CHAIN (how it is
// listed)": nft base chains hooked to input with policy drop
// (iptables-nft's INPUT among them), and iptables' INPUT read with
// `iptables -S INPUT` where nft is not there or iptables is legacy. A mesh
// warns of them: VXLAN's UDP port must reach the host from the other
// nodes, and plumb changes no policy.
func (h Host) InputDrops(ctx context.Context) []string {
	variant := h.Variant
	if variant == "" {
		variant = iptablesVariant()
	}
	nft := h.Nft
	if nft == nil {
		_, err := exec.LookPath("nft")
		nft = func() bool { return err == nil }
	}
	var out []string
	chains := h.listChains(ctx, true, nft)
	for _, c := range hookChains(chains, "input") {
		if c.Policy == "drop" {
			out = append(out, fmt.Sprintf("nft chain %s %s %s", c.Family, c.Table, c.Name))
		}
	}
	if variant == "legacy" || chains == nil {
		if b, err := h.R.Run(ctx, []string{"iptables", "-S", "INPUT"}, nil); err == nil && strings.Contains(string(b), "-P INPUT DROP") {
			out = append(out, "iptables ("+variant+") INPUT")
		}
	}
	return out
}
