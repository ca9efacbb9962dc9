package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	mangokong "github.com/alecthomas/mango-kong"
	"github.com/muesli/roff"

	"plumb/version"
)

// ManPagesCmd is `plumb man-pages DIR`, hidden: make man writes the
// committed man pages with it, and a test checks they are current.
type ManPagesCmd struct {
	Dir string `arg:"" name:"dir" help:"Where to write plumb.8 and plumb-COMMAND.8."`
}

// Run writes the pages of the whole command tree (not the pruned one this
// call was parsed with).
func (c *ManPagesCmd) Run(d *deps) error {
	pages, err := manPages()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	for name, text := range pages {
		if err := os.WriteFile(filepath.Join(c.Dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manSummary is plumb(8)'s NAME line; the description is its first section.
const manSummary = "containers' network and root file system with plain Linux commands, shown first, journaled and undone"

// manPages is plumb.8, with the global flags and one line per command,
// and a page per command (plumb-bridge.8) with all it holds: its help as
// NAME, its long help as DESCRIPTION, its flags and its own commands,
// as --help words them.
func manPages() (map[string]string, error) {
	parser, err := newParser(&CLI{}, io.Discard, io.Discard, func(int) {})
	if err != nil {
		return nil, err
	}
	root := parser.Model.Node
	var cmds []*kong.Node
	for _, c := range root.Children {
		if !c.Hidden {
			cmds = append(cmds, c)
		}
	}
	pages := map[string]string{}
	top := *root
	top.Help, top.Detail = manSummary, strings.Join(strings.Fields(description), " ")
	top.Children = nil
	for _, c := range cmds {
		leaf := *c
		leaf.Children, leaf.Flags, leaf.Detail = nil, nil, ""
		top.Children = append(top.Children, &leaf)
	}
	var also []string
	for _, c := range cmds {
		also = append(also, "plumb-"+c.Name+"(8)")
	}
	pages["plumb.8"] = manPage(&top, "plumb", "plumb [flags] <command> [<args> ...]", "See also: "+strings.Join(also, ", ")+".")
	for _, c := range cmds {
		n := *c
		n.Name = "plumb " + c.Name
		n.Detail = paragraphs(c.Detail)
		if n.Detail == "" {
			n.Detail = n.Help
		}
		for _, sub := range c.Children {
			foldDetail(sub)
		}
		pages["plumb-"+c.Name+".8"] = manPage(&n, "plumb-"+c.Name, "plumb "+c.Summary(), "plumb's global flags (--state-dir, --root, --dry-run's kin) are in plumb(8).")
	}
	return pages, nil
}

// paragraphs is a long help as mango's text takes it: a line a paragraph.
// The help's paragraphs (blank-line separated) are joined into one line
// each; an indented line (an example) stays a line of its own.
func paragraphs(detail string) string {
	var out, cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, l := range strings.Split(detail, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case strings.HasPrefix(l, "  "):
			flush()
			out = append(out, strings.TrimSpace(l))
		default:
			cur = append(cur, strings.TrimSpace(l))
		}
	}
	flush()
	return strings.Join(out, "\n")
}

// foldDetail puts each command's detail after its help, as one paragraph
// (mango-kong prints a detail glued to the command's name, and one
// paragraph per line of it).
func foldDetail(n *kong.Node) {
	if d := strings.Join(strings.Fields(n.Detail), " "); d != "" {
		n.Help, n.Detail = n.Help+" "+d, ""
	}
	for _, c := range n.Children {
		foldDetail(c)
	}
}

// manPage is node's page, as mango-kong lays it out, under title, with
// synopsis as its SYNOPSIS (mango writes a generic one).
func manPage(node *kong.Node, title, synopsis, seeAlso string) string {
	page := mangokong.NewManPage(8, &kong.Application{Node: node})
	page.WithSection("See also", seeAlso)
	doc := &manDoc{Document: roff.NewDocument(), name: node.Name, title: title, synopsis: synopsis}
	return page.Build(doc)
}

// manDoc is roff's document with the heading a Debian page has (plumb's
// version and release date, not the day the page was written) and the
// page's file name in its NAME line, which whatis(1) reads.
type manDoc struct {
	*roff.Document
	name, title, synopsis string
	inName                bool
	// inSynopsis: mango's generic synopsis is being written, and dropped.
	inSynopsis bool
	// block: a nested OPTIONS or COMMANDS heading was written, and
	// first: its indent too; its first entry then needs the tag
	// paragraph mango gives only the entries after it.
	block, first bool
}

func (d *manDoc) TextBold(s string) {
	if d.inSynopsis {
		return
	}
	if d.first {
		d.Document.TaggedParagraph(-1)
	}
	d.block, d.first = s == "OPTIONS" || s == "COMMANDS", false
	d.Document.TextBold(s)
}

func (d *manDoc) Indent(n int) {
	d.first, d.block = d.block, false
	d.Document.Indent(n)
}

func (d *manDoc) TaggedParagraph(n int) {
	d.block, d.first = false, false
	d.Document.TaggedParagraph(n)
}

func (d *manDoc) Heading(section uint, _, _ string, _ time.Time) {
	d.Document.Heading(section, d.title, "", time.Time{})
}

func (d *manDoc) Section(s string) {
	d.inName = s == "Name"
	d.inSynopsis = false
	d.Document.Section(s)
	if s == "Synopsis" {
		d.Document.TextBold(d.synopsis)
		d.inSynopsis = true
	}
}

func (d *manDoc) TextItalic(s string) {
	if !d.inSynopsis {
		d.Document.TextItalic(s)
	}
}

func (d *manDoc) Text(s string) {
	if d.inSynopsis {
		return
	}
	if d.inName {
		s, d.inName = strings.Replace(s, d.name, d.title, 1), false
	}
	d.Document.Text(s)
}

// String is the page with the heading's source and manual fields set.
func (d *manDoc) String() string {
	text := d.Document.String()
	head, rest, _ := strings.Cut(text, "\n")
	if !strings.HasPrefix(head, ".TH ") {
		return text
	}
	th := fmt.Sprintf(".TH %s 8 %q %q %q", strings.ToUpper(d.title), version.Date, "plumb "+version.Number, "System Administration")
	// A text line that starts with ' is a control line to troff, which
	// drops it: \& before it keeps it text. .nh: no hyphen splits a path.
	lines := strings.Split(rest, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return th + "\n.nh\n" + strings.Join(lines, "\n")
}
