package main

import (
	"fmt"
	"io"

	"github.com/alecthomas/kong"

	"plumb/version"
)

// VersionCmd is `plumb version`.
type VersionCmd struct{}

// Run prints the release, the commit and Go's version, one a line.
func (c *VersionCmd) Run(d *deps) error {
	_, err := io.WriteString(d.stdout, versionText())
	return err
}

func versionText() string {
	return fmt.Sprintf("plumb %s\ncommit: %s\ngo: %s\n", version.Number, version.Commit(), version.Go())
}

// versionFlag is --version, as plumb version (kong's VersionFlag would
// read the build's commit at every parse, CNI calls included).
type versionFlag bool

// BeforeApply prints the version and exits.
func (versionFlag) BeforeApply(app *kong.Kong) error {
	io.WriteString(app.Stdout, versionText())
	app.Exit(0)
	return nil
}
