package main

import (
	"fmt"

	"plumb/version"
)

// VersionCmd is `plumb version`.
type VersionCmd struct{}

// Run prints the release, the commit and Go's version, one a line.
func (c *VersionCmd) Run(d *deps) error {
	_, err := fmt.Fprintf(d.stdout, "plumb %s\ncommit: %s\ngo: %s\n", version.Number, version.Commit(), version.Go())
	return err
}
