package plan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"plumb/actions"
)

// ledger records host-wide settings that several objects share: the undo
// that restores the value found before plumb first changed it, and which
// objects still need it.
type ledger struct {
	FormatVersion int                     `json:"format_version"`
	Entries       map[string]*ledgerEntry `json:"entries"`
}

type ledgerEntry struct {
	Restore *encodedAction `json:"restore"` // nil: plumb found it as wanted
	Users   []string       `json:"users"`
}

func (s *Store) LoadLedger() (*ledger, error) {
	l := &ledger{FormatVersion: FormatVersion, Entries: map[string]*ledgerEntry{}}
	if err := s.TrustDirs("", false); err != nil {
		return nil, err
	}
	data, why, err := s.readTrusted(s.ledger())
	if why != "" {
		return nil, s.Untrusted(s.ledger(), why)
	}
	if os.IsNotExist(err) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	if err := strictUnmarshal(data, l); err != nil {
		return nil, fmt.Errorf("%s cannot be read: %w", s.ledger(), err)
	}
	if l.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s has format version %d; this plumb reads version %d", s.ledger(), l.FormatVersion, FormatVersion)
	}
	for k, e := range l.Entries {
		if e.Restore != nil {
			if _, err := e.Restore.Decode(); err != nil {
				return nil, fmt.Errorf("%s: entry %q: %w", s.ledger(), k, err)
			}
		}
	}
	if l.Entries == nil {
		l.Entries = map[string]*ledgerEntry{}
	}
	return l, nil
}

func (s *Store) saveLedger(l *ledger) error {
	if len(l.Entries) == 0 {
		err := os.Remove(s.ledger())
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := s.TrustDirs("", true); err != nil {
		return err
	}
	return s.writeAtomic(s.ledger(), l)
}

func (e *ledgerEntry) without(user string) []string {
	var out []string
	for _, u := range e.Users {
		if u != user {
			out = append(out, u)
		}
	}
	return out
}

func (e *ledgerEntry) has(user string) bool {
	for _, u := range e.Users {
		if u == user {
			return true
		}
	}
	return false
}

// hold records that an object needs a shared setting. The first holder
// reads the value to restore; later holders only add their name. The
// ledger's lock is held from its read to its write.
func hold(ctx context.Context, r actions.Runner, st *Store, user string, s Step) error {
	return st.withLock(ctx, ledgerLock(), func() error { return holdLocked(ctx, r, st, user, s) })
}

func holdLocked(ctx context.Context, r actions.Runner, st *Store, user string, s Step) error {
	l, err := st.LoadLedger()
	if err != nil {
		return err
	}
	e := l.Entries[s.Shared]
	if e == nil {
		// The first holder records how to restore the setting: what the
		// action reads from the host first, or its own undo.
		e = &ledgerEntry{}
		undo := s.Action.Undo()
		if p, ok := s.Action.(actions.Preparer); ok {
			if undo, err = p.Prepare(ctx, r); err != nil {
				return err
			}
		}
		if undo != nil {
			if e.Restore, err = encode(undo); err != nil {
				return err
			}
		}
		l.Entries[s.Shared] = e
	}
	if !e.has(user) {
		e.Users = append(e.Users, user)
	}
	return st.saveLedger(l)
}

// release drops an object's hold on a shared setting and restores the
// setting when no holder is left. It is idempotent. It works on a full
// disk: a shared.json that cannot be saved for want of space keeps the
// hold, which no later release counts once its object's journal is gone.
// The ledger's lock is held from its read to its write, the restore
// included: a hold taken meanwhile would be undone by it.
func release(ctx context.Context, r actions.Runner, st *Store, user, key string) (ran []string, err error) {
	err = st.withLock(ctx, ledgerLock(), func() error {
		ran, err = releaseLocked(ctx, r, st, user, key)
		return err
	})
	return ran, err
}

func releaseLocked(ctx context.Context, r actions.Runner, st *Store, user, key string) ([]string, error) {
	l, err := st.LoadLedger()
	if err != nil {
		return nil, err
	}
	e := l.Entries[key]
	if e == nil {
		return nil, nil
	}
	e.Users = st.holders(e.without(user))
	if len(e.Users) > 0 {
		zerolog.Ctx(ctx).Info().Msgf("%s is still needed by %s; left as it is", key, strings.Join(e.Users, ", "))
		return nil, st.saveReleased(ctx, l)
	}
	var ran []string
	if e.Restore != nil {
		u, err := e.Restore.Decode()
		if err != nil {
			return nil, err
		}
		ran = append(ran, actions.Quote(u.Argv()))
		zerolog.Ctx(ctx).Info().Msgf("undo: %s (no plumb object needs %s now)", actions.Quote(u.Argv()), key)
		if err := run(ctx, r, u); err != nil {
			// A bridge's route_localnet goes with the bridge (deleted by
			// hand, or gone with a reboot under an on-disk state
			// directory): nothing is left to restore, and the hold goes.
			if g, ok := u.(actions.Tolerant); !ok || !g.Gone(actions.StderrOf(err)) {
				_ = st.saveLedger(l)
				return ran, err
			}
		}
	}
	delete(l.Entries, key)
	return ran, st.saveReleased(ctx, l)
}

// saveReleased saves the ledger after a release, or on a full disk leaves
// it as it was, with a warning: the hold it keeps is of an object whose
// journal is removed once it is undone, and holders does not count it.
func (s *Store) saveReleased(ctx context.Context, l *ledger) error {
	err := s.saveLedger(l)
	if isFull(err) {
		zerolog.Ctx(ctx).Warn().Msgf("the state directory is full (%v); %s keeps a hold that is not counted once its object is gone", err, s.ledger())
		return nil
	}
	return err
}

// holders is users, the objects holding a shared setting, less those whose
// journal is gone: holds that a full disk kept in shared.json after their
// object was undone. (An object holds a setting only while its journal is
// there: it is written before the first step.)
func (s *Store) holders(users []string) []string {
	var out []string
	for _, u := range users {
		if kind, name, ok := strings.Cut(u, "/"); ok && checkName(kind, name) == nil {
			if _, err := os.Lstat(s.Journal(kind, name)); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		out = append(out, u)
	}
	return out
}
