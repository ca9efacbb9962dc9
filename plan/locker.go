package plan

import "context"

// Locker is a recipe that names the locks its objects need (see lock.go):
// Up takes them, beside the store's lock shared, instead of the store's
// lock exclusive, so that other objects' commands do not wait for it.
// A recipe that names none holds the whole store.
type Locker interface {
	Locks() []Lock
}

// lockFor takes what rc needs to be applied: its locks, or the store's.
func lockFor(ctx context.Context, env Env, rc Recipe) error {
	if l, ok := rc.(Locker); ok {
		return env.St.LockFor(ctx, env.Wait, l.Locks()...)
	}
	return env.St.Lock(ctx, env.Wait)
}
