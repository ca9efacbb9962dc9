package actions

import "strings"

// Which failures mean that what an action makes was there before it ran
// (see Clasher). Creating a link, a chain, a namespace or a mount of a
// name that exists fails this way; plumb's checks before applying make it
// rare, and then the thing belongs to someone else and is left alone.

func (a LinkAddVeth) Clash(stderr string) bool   { return fileExists(stderr) }
func (a LinkAddBridge) Clash(stderr string) bool { return fileExists(stderr) }
func (a NetnsAdd) Clash(stderr string) bool      { return fileExists(stderr) }
func (a IptablesNewChain) Clash(stderr string) bool {
	return strings.Contains(stderr, "Chain already exists") || fileExists(stderr)
}
func (a OverlayMount) Clash(stderr string) bool {
	return strings.Contains(stderr, "already mounted")
}

func fileExists(stderr string) bool { return strings.Contains(stderr, "File exists") }
