package main

import (
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// parseNamed parses args with a parser of CLI's global flags and only the
// commands args name, and copies what it parsed into cli. Kong builds its
// model of every command and flag, and interpolates each help text, before
// it reads a word: about 3 ms for plumb's whole tree, a good part of what
// one attach or CNI ADD costs. A command's words are the same in a tree
// that holds it alone, so the result is the same. It returns nil (and the
// caller parses with the whole tree) for help, for args that name no
// command, and for any error, so usage, help and error messages are
// exactly the whole tree's.
func parseNamed(cli *CLI, args []string, stdout, stderr io.Writer) (*kong.Context, error) {
	for _, a := range args {
		if a == "--help" || a == "-h" || a == "--" {
			return nil, nil
		}
	}
	t := reflect.TypeOf(*cli)
	var fields []reflect.StructField
	var named []int // fields of t kept, by index
	commands := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, isCmd := f.Tag.Lookup("cmd"); isCmd {
			name := f.Tag.Get("name")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if !slices.Contains(args, name) {
				continue
			}
			commands = true
		}
		fields = append(fields, f)
		named = append(named, i)
	}
	if !commands {
		return nil, nil
	}
	part := reflect.New(reflect.StructOf(fields))
	failed := false
	parser, err := kong.New(part.Interface(), parserOptions(stdout, stderr, func(int) { failed = true })...)
	if err != nil {
		return nil, nil
	}
	kctx, err := parser.Parse(args)
	if err != nil || failed {
		return nil, nil
	}
	whole := reflect.ValueOf(cli).Elem()
	for k, i := range named {
		whole.Field(i).Set(part.Elem().Field(k))
	}
	return kctx, nil
}
