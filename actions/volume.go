package actions

import "fmt"

// CopyUp fills an empty named volume with what the container's image has
// at the volume's destination, as Docker does the first time a volume is
// mounted: `plumb volume copy-up` resolves Dest inside Root (a symbolic
// link of the image never leads out of it) and copies with cp -a. A volume
// that is not empty is left as it is. Its undo is none: what is in a
// volume is the volume's, kept when its containers go.
type CopyUp struct {
	Root   string `json:"root"` // the container's root (the overlay's merged directory)
	Dest   string `json:"dest"` // the volume's destination in it
	Data   string `json:"data"` // the volume's _data
	Volume string `json:"volume"`
}

func (a CopyUp) Kind() string { return "copy_up" }
func (a CopyUp) Argv() []string {
	return []string{"plumb", "volume", "copy-up", "--rootfs", a.Root, "--dest", a.Dest, a.Data}
}
func (a CopyUp) Why() string {
	return fmt.Sprintf("copy what the image has at %s into volume %s, if the volume is empty (as Docker does on its first use)", a.Dest, a.Volume)
}
func (a CopyUp) Undo() Action { return nil }
func (a CopyUp) UndoNote() string {
	return "keeps what it copied: a volume's content outlives its containers"
}
