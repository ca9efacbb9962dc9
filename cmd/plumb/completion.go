package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/posener/complete"
	"github.com/sirupsen/logrus"
	"github.com/willabides/kongplete"

	"plumb/compose"
	"plumb/plan"
)

// CompletionCmd is `plumb completion bash|zsh|fish`.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
	Path  string `name:"path" placeholder:"BIN" help:"The plumb the shell runs to complete a line (default: this one's absolute path)."`
}

// Help is the long help of `plumb completion --help`.
func (c *CompletionCmd) Help() string {
	return `Prints a script that has the shell complete plumb's commands, flags and the
names they take (bridges, containers, images, layers, volumes, meshes, a
Compose file's services): the shell runs plumb with the line typed so far in
COMP_LINE, and plumb answers from the state directory's file names without
taking its lock. Load it for this shell, or install it (the Debian package
installs all three):

  source <(plumb completion bash)
  plumb completion bash >/usr/share/bash-completion/completions/plumb
  plumb completion zsh  >/usr/share/zsh/vendor-completions/_plumb
  plumb completion fish >/usr/share/fish/vendor_completions.d/plumb.fish`
}

// Run prints the script.
func (c *CompletionCmd) Run(d *deps) error {
	bin := c.Path
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		bin = self
	}
	_, err := io.WriteString(d.stdout, completionScript(c.Shell, bin))
	return err
}

// completionScript is the shell's script that runs bin to complete
// plumb's lines (as kongplete installs it, for bash, zsh and fish). In
// bash (and zsh's emulation of it) a function runs bin rather than
// complete -C: bash splits a word at ':' (COMP_WORDBREAKS) and would put
// "busybox:latest" after the "busybox:" typed, so the function takes
// what the word had up to its last ':' off each answer, as
// bash-completion's __ltrim_colon_completions does. The answers are read
// a line each, never expanded as globs.
func completionScript(shell, bin string) string {
	q := "'" + strings.ReplaceAll(bin, "'", `'\''`) + "'"
	fn := func(name string) string {
		return name + `() {
    local line=${COMP_LINE:0:$COMP_POINT} w
    local word=${line##*[[:space:]]}
    COMPREPLY=()
    while IFS= read -r w; do COMPREPLY+=("$w"); done < <(COMP_LINE="$COMP_LINE" COMP_POINT="$COMP_POINT" ` + q + `)
    if [[ $word == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local colon=${word%"${word##*:}"}
        COMPREPLY=("${COMPREPLY[@]#"$colon"}")
    fi
}
`
	}
	switch shell {
	case "zsh":
		// Installed in fpath, the file is autoloaded as _plumb at the
		// first Tab: it registers _plumb_bash, then completes that Tab.
		return "#compdef plumb\nautoload -U +X bashcompinit && bashcompinit\n" + fn("_plumb_bash") +
			"complete -o default -F _plumb_bash plumb\n" +
			"(( $+compstate )) && _bash_complete -o default -F _plumb_bash\n"
	case "fish":
		return `function __complete_plumb
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    ` + q + `
end
complete -f -c plumb -a "(__complete_plumb)"
`
	}
	return fn("_plumb") + "complete -o default -F _plumb plumb\n"
}

// completing answers the shell when it runs plumb to complete a line
// (COMP_LINE set): kongplete walks the command tree, the predictors
// below name what the state holds. It reports whether it did.
func completing(stdout io.Writer) bool {
	if os.Getenv("COMP_LINE") == "" {
		return false
	}
	// After a bare --, the words are the container's command: none of
	// plumb's flags or names fits there.
	typed := lineWords() // the words done: all but one being typed
	if len(typed) > 0 && !strings.HasSuffix(completionLine(), " ") {
		typed = typed[:len(typed)-1]
	}
	if slices.Contains(typed, "--") {
		return true
	}
	done := false
	var out bytes.Buffer
	parser, err := newParser(&CLI{}, &out, io.Discard, func(int) { done = true })
	if err != nil {
		return true
	}
	kongplete.Complete(parser, kongplete.WithPredictors(predictors()), kongplete.WithExitFunc(func(int) { done = true }))
	// Sorted: commands come out of a map, in a new order each time.
	words := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	slices.Sort(words)
	if len(words) > 0 && words[0] != "" {
		io.WriteString(stdout, strings.Join(words, "\n")+"\n")
	}
	return done
}

// predictors name, for the tag predictor:"KIND" on an argument or flag,
// the objects it may be.
func predictors() map[string]complete.Predictor {
	names := func(kind string) complete.Predictor {
		return complete.PredictFunc(func(a complete.Args) []string { return lineStore().ObjectNames(kind) })
	}
	return map[string]complete.Predictor{
		"container": names(plan.ContainerKind.Name()),
		"bridge":    names(plan.BridgeKind.Name()),
		"volume":    names(plan.VolumeKind.Name()),
		"mesh":      names(plan.MeshKind.Name()),
		"layer":     names(plan.LayerKind.Name()),
		// --net: a bridge, or none.
		"net": complete.PredictFunc(func(a complete.Args) []string {
			return append(lineStore().ObjectNames(plan.BridgeKind.Name()), "none")
		}),
		"image": complete.PredictFunc(func(a complete.Args) []string { return lineStore().ImageRefs() }),
		"object": complete.PredictFunc(func(a complete.Args) []string {
			l := lineStore()
			var all []string
			for _, k := range plan.Kinds() {
				// Images and their layers are named by their digests
				// (image rm takes an image's names); a migration is no
				// object one names.
				if k == plan.ImageKind.Name() || k == plan.ImageLayerKind.Name() || k == plan.MigrateKind.Name() {
					continue
				}
				all = append(all, l.ObjectNames(k)...)
			}
			return all
		}),
		"service":  complete.PredictFunc(composeServices),
		"firewall": complete.PredictSet("iptables", "nftables"),
	}
}

// lineStore is the state directory the line being completed names
// (--state-dir), else PLUMB_STATE_DIR's, else the default.
func lineStore() *plan.Store {
	dir := os.Getenv("PLUMB_STATE_DIR")
	if v := flagValue(lineWords(), "--state-dir"); v != "" {
		dir = v
	}
	if dir == "" {
		dir = "/run/plumb"
	}
	return plan.NewStore(dir)
}

// lineWords are the words of the line being completed, up to the cursor:
// all of them, where a predictor's arguments start after its command.
func lineWords() []string { return strings.Fields(completionLine()) }

// completionLine is the line being completed, up to the cursor.
func completionLine() string {
	line := os.Getenv("COMP_LINE")
	if p, err := strconv.Atoi(os.Getenv("COMP_POINT")); err == nil && p >= 0 && p < len(line) {
		line = line[:p]
	}
	return line
}

// flagValue is the last value a line gives flag (--flag V or --flag=V).
func flagValue(words []string, flag string) string {
	v := ""
	for i, w := range words {
		if w == flag && i+1 < len(words) {
			v = words[i+1]
		} else if s, ok := strings.CutPrefix(w, flag+"="); ok {
			v = s
		}
	}
	return v
}

// composeServices are the services of the Compose file the line names
// (-f, --file, --project-directory), else the working directory's.
func composeServices(a complete.Args) []string {
	logrus.SetOutput(io.Discard) // compose-go's warnings would land on the terminal
	var o compose.LoadOptions
	words := lineWords()
	for i, w := range words {
		if (w == "-f" || w == "--file") && i+1 < len(words) {
			o.Files = append(o.Files, words[i+1])
		} else if s, ok := strings.CutPrefix(w, "--file="); ok {
			o.Files = append(o.Files, s)
		}
	}
	if d := flagValue(words, "--project-directory"); d != "" {
		o.Dir = filepath.Clean(d)
	}
	names, err := compose.ServiceNames(context.Background(), o)
	if err != nil {
		return nil
	}
	return names
}
