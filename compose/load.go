package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"

	"plumb/plan"
)

// LoadOptions are how the file is found and named, as docker compose's -f, -p,
// --project-directory, --env-file and --profile give them.
type LoadOptions struct {
	Files    []string // "": compose.yaml (or docker-compose.yml, ...) in Dir
	Name     string   // "": the file's name:, else Dir's base name
	Dir      string   // "": the first file's directory, else the working one
	EnvFiles []string // "": Dir/.env
	Profiles []string
	// Env is the environment interpolation reads (KEY=VALUE); nil: plumb's own.
	Env []string
	// names: the project is read for its services' names alone.
	names bool
}

// ServiceNames are the services of the file o names, read as Load reads
// it but without checking it against the Compose schema or refusing what
// plumb does not do: for shell completion, which must answer at once
// and only offers words.
func ServiceNames(ctx context.Context, o LoadOptions) ([]string, error) {
	o.names = true
	f, err := Load(ctx, o)
	if err != nil {
		return nil, err
	}
	return f.Project.ServiceNames(), nil
}

// File is a Compose file as loaded: the project compose-go made of it, and
// the same project as a YAML tree, which refusals walk key by key.
type File struct {
	Project *types.Project
	model   map[string]any
}

// Load reads the files of o into a project, refusing what plumb does not
// do (see Refusals) before anything else looks at it.
func Load(ctx context.Context, o LoadOptions) (*File, error) {
	// compose-go warns through logrus (a variable not set, an obsolete
	// key): said as plumb says its own, one line each.
	logrus.SetFormatter(lineFormat{})
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	// In this order: the directory, then what is read from it.
	var fns []cli.ProjectOptionsFn
	if o.Dir != "" {
		fns = append(fns, cli.WithWorkingDirectory(o.Dir))
	}
	// As docker compose orders them: .env (or --env-file) is read in the
	// project directory, before COMPOSE_FILE and the default file.
	fns = append(fns, cli.WithEnv(env), cli.WithEnvFiles(o.EnvFiles...))
	fns = append(fns, cli.WithDotEnv, cli.WithConfigFileEnv, cli.WithDefaultConfigPath)
	if o.Name != "" {
		fns = append(fns, cli.WithName(o.Name))
	}
	if len(o.Profiles) > 0 {
		fns = append(fns, cli.WithProfiles(o.Profiles))
	}
	if o.names {
		// Names alone (shell completion): no schema to compile and check.
		fns = append(fns, cli.WithLoadOptions(func(lo *loader.Options) { lo.SkipValidation = true }))
	}
	opts, err := cli.NewProjectOptions(o.Files, fns...)
	if err != nil {
		return nil, &plan.Refused{Flag: "file", Msg: err.Error()}
	}
	if len(opts.ConfigPaths) == 0 {
		dir, _ := opts.GetWorkingDir()
		return nil, noFile{&plan.Refused{Flag: "file", Msg: fmt.Sprintf("no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in %s: give one with -f FILE", dir)}}
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &plan.Refused{Flag: "file", Msg: err.Error()}
		}
		return nil, &plan.Refused{Flag: "file", Msg: fmt.Sprintf("%s: %v", filepath.Base(opts.ConfigPaths[0]), err)}
	}
	if o.names {
		return &File{Project: p}, nil
	}
	out, err := p.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("reading the project back: %w", err)
	}
	f := &File{Project: p}
	if err := yaml.Unmarshal(out, &f.model); err != nil {
		return nil, fmt.Errorf("reading the project back: %w", err)
	}
	if lines := Refusals(f.model); len(lines) > 0 {
		return nil, unsupported(lines)
	}
	return f, nil
}

// unsupported is the refusal of a file that asks for what plumb does not
// do: one line per key, with its service or top-level section.
func unsupported(lines []string) error {
	s := fmt.Sprintf("the file asks for %d thing(s) plumb does not do; nothing was run:", len(lines))
	for _, l := range lines {
		s += "\n  " + l
	}
	return &plan.Refused{Msg: s}
}

// lineFormat writes a logrus entry as "plumb: LEVEL: MESSAGE".
type lineFormat struct{}

func (lineFormat) Format(e *logrus.Entry) ([]byte, error) {
	return []byte("plumb: " + e.Level.String() + ": " + e.Message + "\n"), nil
}

// noFile is the refusal of a directory without a Compose file.
type noFile struct{ *plan.Refused }

func (e noFile) Unwrap() error { return e.Refused }

// NoFile says whether err is Load's of a directory without a Compose file.
func NoFile(err error) bool {
	var nf noFile
	return errors.As(err, &nf)
}
