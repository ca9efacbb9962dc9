// Command packaging writes plumb's Debian package with nfpm, from
// nfpm.yaml and the files scripts/install.sh staged (make deb runs it).
// It is a module of its own so that nfpm's dependencies stay out of
// plumb's.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	config := flag.String("config", "nfpm.yaml", "nfpm's configuration")
	stage := flag.String("stage", "", "where scripts/install.sh staged the files (PREFIX=/usr)")
	version := flag.String("version", "", "the package's version (version.Number)")
	date := flag.String("date", "", "the release date (version.Date, YYYY-MM-DD): every file's mtime, so that one release gives one package")
	out := flag.String("o", "", "the .deb to write")
	flag.Parse()
	if err := build(*config, *stage, *version, *date, *out); err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		os.Exit(1)
	}
}

// build writes the package of version, from config's contents under stage,
// to out.
func build(config, stage, version, date, out string) error {
	if stage == "" || version == "" || out == "" {
		return fmt.Errorf("-stage, -version and -o are needed")
	}
	mtime, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return fmt.Errorf("-date: %w", err)
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(config, func(k string) string {
		switch k {
		case "VERSION":
			return version
		case "STAGE":
			return stage
		}
		return ""
	})
	if err != nil {
		return err
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return err
	}
	info.MTime = mtime
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return err
	}
	return f.Close()
}
