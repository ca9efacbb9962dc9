package plan

// ContainerKind is a container's (run): its root, namespaces, process and,
// with --net, its place on a bridge.
var ContainerKind = Register(containerKind{})

type containerKind struct{ FactsCodec[ContainerFacts] }

func (containerKind) Name() string { return "container" }

// FactsVersion 1: the root and the network are structs of their own,
// unlike the one key space of the details map.
func (containerKind) FactsVersion() int { return 1 }

// ContainerFacts are a container's (run): its root, namespaces, command
// and, with --net, its attachment.
type ContainerFacts struct {
	Root     OverlayFacts     `json:"root"`
	Netns    string           `json:"netns"` // the name of its network namespace
	Hostname string           `json:"hostname"`
	Cmd      string           `json:"cmd"` // the command, as a shell line
	PIDFile  string           `json:"pid_file"`
	Log      string           `json:"log"`
	Target   string           `json:"target"`
	Net      *AttachmentFacts `json:"net"` // nil: --net none
	// What the command runs with: the image it came from (its name and
	// ID; "" for --layer), its environment, working directory and user
	// ("UID:GID") as the plan resolved them. Journals of plumb before
	// images have none of them.
	Image   string   `json:"image,omitempty"`
	ImageID string   `json:"image_id,omitempty"`
	Env     []string `json:"env"`
	WorkDir string   `json:"working_dir,omitempty"`
	User    string   `json:"user,omitempty"`
}

// Kind is ContainerKind.
func (ContainerFacts) Kind() Kind { return ContainerKind }

// DecodeDetails reads the one key space the map form shared: the root's
// keys, the network's (unless "net" is "none"), and the container's own
// ("target" and "layout" written by both).
func (containerKind) DecodeDetails(d *DetailsReader) Facts {
	c := ContainerFacts{Root: d.overlay(), Netns: d.S("netns"), Hostname: d.S("hostname"), Cmd: d.S("cmd"),
		PIDFile: d.S("pid_file"), Log: d.S("log"), Target: d.S("target"),
		Image: d.S("image"), ImageID: d.S("image_id"), WorkDir: d.S("working_dir"), User: d.S("user")}
	d.JSON("env", &c.Env)
	if d.S("net") != "none" {
		a := d.attachment()
		c.Net = &a
	}
	return c
}

func (containerKind) Attachment(f Facts) (AttachmentFacts, bool) {
	c, ok := f.(ContainerFacts)
	if !ok || c.Net == nil {
		return AttachmentFacts{}, false
	}
	return *c.Net, true
}

func (containerKind) Overlay(f Facts) OverlayFacts {
	c, _ := f.(ContainerFacts)
	return c.Root
}

func (containerKind) IndexEntries(l Layout, f Facts) []string {
	if c, ok := f.(ContainerFacts); ok && c.Net != nil {
		return c.Net.indexEntries(l)
	}
	return nil
}

// Rules: a container on a bridge has its attachment's; one with --net
// none has none.
func (containerKind) Rules(f Facts) (rules, bridged bool) {
	c, ok := f.(ContainerFacts)
	on := ok && c.Net != nil
	return on, on
}

func (containerKind) Firewall(f Facts) string {
	if c, ok := f.(ContainerFacts); ok && c.Net != nil {
		return c.Net.Firewall
	}
	return ""
}

// BeforeDown gives the container's stop opts.Grace seconds, when given.
func (containerKind) BeforeDown(_ Env, rec *Record, opts DownOptions, _ bool) ([]*Record, error) {
	if opts.Grace > 0 {
		return nil, StopGrace(rec, opts.Grace)
	}
	return nil, nil
}
