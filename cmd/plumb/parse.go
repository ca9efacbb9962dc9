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
	// Words after -- are the command's (run, exec): never a flag or a
	// command of plumb's, so neither help nor the pruning looks at them.
	// (Falling back to the whole tree for every `run ... -- CMD` cost each
	// run the whole tree's parse: 15-45 ms measured under load, issue 23.)
	flags := args
	for i, a := range args {
		if a == "--" {
			flags = args[:i]
			break
		}
		if strings.HasPrefix(a, "--help") || strings.HasPrefix(a, "-h") {
			return nil, nil // --help=true and -h as well: help is the whole tree's
		}
	}
	pruned, named := prune(reflect.TypeOf(*cli), flags)
	if !named {
		return nil, nil
	}
	part := reflect.New(pruned)
	failed := false
	// Nothing is printed by this parse: usage, help and errors are left to
	// the whole tree's.
	parser, err := kong.New(part.Interface(), append(parserOptions(stdout, stderr, func(int) { failed = true }),
		kong.Writers(io.Discard, io.Discard))...)
	if err != nil {
		return nil, nil
	}
	kctx, err := parser.Parse(args)
	if err != nil || failed {
		return nil, nil
	}
	copyNamed(reflect.ValueOf(cli).Elem(), part.Elem())
	return kctx, nil
}

// prune is t with only the commands args name, at every level (bridge's
// attach alone, not up, detach, down and ls), and whether it names any.
// A group of commands (BridgeCmd) becomes a struct type of its own, which
// has none of the group's methods: groups have none, only the commands
// they hold, whose types are kept whole.
func prune(t reflect.Type, args []string) (reflect.Type, bool) {
	var fields []reflect.StructField
	named := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if _, isCmd := f.Tag.Lookup("cmd"); isCmd {
			if !slices.Contains(args, commandName(f)) {
				continue
			}
			named = true
			if f.Type.Kind() == reflect.Struct && f.Type.NumMethod() == 0 && reflect.PointerTo(f.Type).NumMethod() == 0 {
				if sub, ok := prune(f.Type, args); ok {
					f.Type = sub
				}
			}
		}
		fields = append(fields, f)
	}
	return reflect.StructOf(fields), named
}

// copyNamed copies what was parsed into part, a pruned copy, into whole.
func copyNamed(whole, part reflect.Value) {
	for i := 0; i < part.NumField(); i++ {
		name := part.Type().Field(i).Name
		w, p := whole.FieldByName(name), part.Field(i)
		if w.Type() == p.Type() {
			w.Set(p)
		} else {
			copyNamed(w, p)
		}
	}
}

// commandName is the word that names a command field.
func commandName(f reflect.StructField) string {
	if name := f.Tag.Get("name"); name != "" {
		return name
	}
	return strings.ToLower(f.Name)
}

// negativeFlags take -1 (no limit) as docker run does; kong reads a word
// starting with '-' after a flag as another flag, not its value.
var negativeFlags = []string{"--pids-limit", "--memory-swap"}

// negativeValues joins such a flag and a negative number after it into
// one word, --pids-limit=-1, up to the first --.
func negativeValues(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if slices.Contains(negativeFlags, a) && i+1 < len(args) && len(args[i+1]) > 1 && args[i+1][0] == '-' && strings.Trim(args[i+1][1:], "0123456789") == "" {
			a += "=" + args[i+1]
			i++
		}
		out = append(out, a)
	}
	return out
}
