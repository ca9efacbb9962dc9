// Package actions holds one typed value per kind of command plumb runs: its
// exact argv, the runbook's reason for it and its inverse. It is the only
// package that starts processes.
package actions

import "context"

// Action is one command line. Its argv is what a person would type and what
// plumb runs; nothing is added behind the user's back.
type Action interface {
	// Kind names the action in the journal; it is part of the on-disk format.
	Kind() string
	// Argv is the command as run, argv[0] found on PATH.
	Argv() []string
	// Why is the runbook's one-line reason for the step.
	Why() string
	// Undo is the action that reverses this one, or nil when nothing needs
	// reversing or a later undo already covers it (see Covered).
	Undo() Action
}

// Noted is an action without a fixed undo command: UndoNote says which
// other undo removes its effect, or what its undo decides at apply time, so
// a reader of the plan sees why no command is listed.
type Noted interface {
	UndoNote() string
}

// Preparer is an action whose undo depends on what is on the host when it
// runs (a sysctl's old value, which directories already existed). Prepare
// reads that state and returns the undo that restores it, or nil.
type Preparer interface {
	Prepare(ctx context.Context, r Runner) (Action, error)
}

// Tolerant is an undo that may find its target already gone. Gone reports
// whether a failure's stderr means exactly that, so that undoing twice
// succeeds and rollback, down and recover can always be run again.
type Tolerant interface {
	Gone(stderr string) bool
}

// Clasher is an action whose failure can mean that what it makes was there
// already, made by someone else (a link of that name exists): then its undo
// must not run. Any other failure may have left part of its effect (tar
// wrote some files before it refused one; unshare bind-mounted its file
// before hostname refused the name; a command that did its work and then
// failed), so the undo of a failed step runs, tolerant of absence.
type Clasher interface {
	Clash(stderr string) bool
}

// Targeted is an action that acts on a container's network namespace, so
// apply checks that the namespace is still the one it was planned for.
type Targeted interface {
	Target() Netns
}

// Barrier is an undo that the undos after it depend on: when it fails
// (umount of a busy mount), unwinding stops there rather than remove
// directories still in use, and the rest stays journaled for a retry.
type Barrier interface {
	Barrier()
}

// Shelled is an action whose runbook form is more than its command line:
// it reads the host first to know its undo. Shell returns the bash lines,
// which push the undo onto the runbook's undo array; n numbers the step so
// its variables do not clash with another's.
type Shelled interface {
	Shell(n int) []string
}

// Custom is an action that is more than one process run to completion
// (starting a container and leaving it running, stopping one with a grace
// period). Apply and unwind call Exec instead of running Argv; Argv is what
// a person would type for its main effect.
type Custom interface {
	Exec(ctx context.Context, r Runner) error
}
