package keyset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Storage is the part of Caddy's storage (certmagic.Storage) a key set
// needs. Load reports a missing key with an error wrapping fs.ErrNotExist.
type Storage interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Store(ctx context.Context, key string, value []byte) error
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// Storage keys. Every instance sharing Caddy's storage shares the set, so
// tokens one instance signs verify at the others, and a restart keeps it.
const (
	StorageKey = "oauth2/signing_keys.json"
	// legacyStorageKey held the one generated key before keys rotated; a set
	// is started from it, so that tokens signed before an upgrade still
	// verify and the key keeps signing until its first rotation.
	legacyStorageKey = "oauth2/signing_key.pem"
	// LockName is the storage lock under which the set is changed, shared
	// with the other secrets generated into storage.
	LockName = "oauth2_keys"
)

// lockTimeout bounds how long a change waits for the storage lock.
const lockTimeout = 30 * time.Second

// Manager follows the key set kept in storage: it re-reads it on every tick
// of Run, makes the next key when the schedule says so, and switches to each
// key at its activation time, so that every instance on one storage signs
// with the same key within one tick of an activation. Current is safe for
// concurrent use and costs one atomic load.
type Manager struct {
	storage      Storage
	sched        Schedule
	verification []*tokens.Verifier
	now          func() time.Time
	logger       *zap.Logger

	current atomic.Pointer[Set]
	// raw is the storage document the current set was built from, and st
	// that document parsed; only Run's goroutine touches them after Open.
	raw []byte
	st  stored
}

// Options configure a Manager.
type Options struct {
	Schedule Schedule
	// Verification keys are published after the set's own.
	Verification []*tokens.Verifier
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *zap.Logger
}

// Open loads the key set from storage, creating it with one key that signs
// at once the first time (or from the key an earlier version generated).
func Open(ctx context.Context, storage Storage, opts Options) (*Manager, error) {
	m := &Manager{storage: storage, sched: opts.Schedule, verification: opts.Verification, now: opts.Now, logger: opts.Logger}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = zap.NewNop()
	}
	data, err := m.load(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = m.create(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := m.use(data); err != nil {
		return nil, err
	}
	if m.sched.Keep > m.st.keep {
		// Make the set keep retired keys as long as this instance's tokens
		// need them, whoever prunes it.
		if err := m.change(ctx, func(keys []scheduledKey, _ time.Time) ([]scheduledKey, error) { return keys, nil }); err != nil {
			return nil, err
		}
	}
	// A set not looked after for longer than its rotation gets its next key
	// now rather than a tick later.
	m.Refresh(ctx)
	return m, nil
}

// schedule is the Manager's schedule, keeping retired keys as long as the
// stored set asks.
func (m *Manager) schedule() Schedule { return m.sched.withKeep(m.st) }

// Current returns the set in force now.
func (m *Manager) Current() *Set { return m.current.Load() }

// Run refreshes the set every interval, and at the moment a key activates
// or drops, until ctx ends.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	timer := time.NewTimer(m.untilNextRefresh(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		m.Refresh(ctx)
		timer.Reset(m.untilNextRefresh(interval))
	}
}

// minRefreshWait keeps Run from spinning should a state change it waits for
// be in the past when it looks.
const minRefreshWait = 100 * time.Millisecond

// untilNextRefresh is interval, or less when a key changes state sooner.
func (m *Manager) untilNextRefresh(interval time.Duration) time.Duration {
	if at := m.Current().changesAt; !at.IsZero() {
		if d := at.Sub(m.now()); d < interval {
			return max(d, min(interval, minRefreshWait))
		}
	}
	return interval
}

// Refresh re-reads the set from storage, makes the next key if it is due,
// and rebuilds the current set when the stored one or a key's state
// changed. A storage failure keeps the stored set it last read in force:
// its keys still activate and drop on time, tokens go on being signed and
// verified, and the failure is logged.
func (m *Manager) Refresh(ctx context.Context) {
	// Activations and drops follow the clock from the set last read, even
	// when this read fails: an instance cut off from storage must still
	// switch keys when the others do.
	defer m.publishDue()
	data, err := m.load(ctx)
	if err != nil {
		m.logger.Error("reading the signing key set from storage; keeping the keys in use", zap.Error(err))
		return
	}
	if !bytes.Equal(data, m.raw) {
		if err := m.use(data); err != nil {
			m.logger.Error("the signing key set in storage is unusable; keeping the keys in use",
				zap.String("storage_key", StorageKey), zap.Error(err))
			return
		}
	}
	if _, due := nextKeyDue(m.st.keys, m.now(), m.schedule()); due {
		if err := m.makeNextKey(ctx); err != nil {
			m.logger.Error("making the next signing key", zap.Error(err))
		}
	}
}

// publishDue rebuilds the current set if a key's state has changed since it
// was built.
func (m *Manager) publishDue() {
	if at := m.Current().changesAt; !at.IsZero() && !m.now().Before(at) {
		m.publish()
	}
}

// use parses a stored document and makes it current.
func (m *Manager) use(data []byte) error {
	st, err := parseStored(data)
	if err != nil {
		return err
	}
	m.raw, m.st = data, st
	m.publish()
	return nil
}

// publish rebuilds the current set from the stored keys at now, logging a
// change of signing key.
func (m *Manager) publish() {
	set := buildSet(m.st.keys, m.now(), m.schedule(), m.verification)
	if old := m.current.Swap(set); old != nil && old.signer.KeyID() != set.signer.KeyID() {
		m.logger.Info("signing with the next key", zap.String("kid", set.signer.KeyID()),
			zap.String("previous_kid", old.signer.KeyID()))
	}
}

// makeNextKey adds the next key under the storage lock, unless another
// instance did while this one waited for it.
func (m *Manager) makeNextKey(ctx context.Context) error {
	return m.change(ctx, func(keys []scheduledKey, now time.Time) ([]scheduledKey, error) {
		activatesAt, due := nextKeyDue(keys, now, m.schedule())
		if !due {
			return nil, nil
		}
		next, err := newKey(now, activatesAt)
		if err != nil {
			return nil, err
		}
		m.logger.Info("published the next signing key", zap.String("kid", next.signer.KeyID()),
			zap.Time("activates_at", activatesAt))
		return append(pruned(keys, now, m.schedule()), *next), nil
	})
}

// change applies edit to the stored set under the storage lock and makes
// the result current. edit returns nil to change nothing.
func (m *Manager) change(ctx context.Context, edit func([]scheduledKey, time.Time) ([]scheduledKey, error)) error {
	data, err := changeStored(ctx, m.storage, m.now, m.sched.Keep, edit)
	if err != nil || data == nil {
		return err
	}
	return m.use(data)
}

// load reads the stored document.
func (m *Manager) load(ctx context.Context) ([]byte, error) {
	return m.storage.Load(ctx, StorageKey)
}

// create writes the first set under the storage lock: the key an earlier
// version generated, or a new one, signing at once.
func (m *Manager) create(ctx context.Context) ([]byte, error) {
	return withLock(ctx, m.storage, func() ([]byte, error) {
		// Another instance may have created it while we waited for the lock.
		if data, err := m.storage.Load(ctx, StorageKey); !errors.Is(err, fs.ErrNotExist) {
			return data, err
		}
		now := m.now()
		first, err := m.legacyKey(ctx, now)
		if err != nil {
			return nil, err
		}
		if first == nil {
			if first, err = newKey(now, now); err != nil {
				return nil, err
			}
			m.logger.Info("generated a signing key", zap.String("kid", first.signer.KeyID()))
		}
		data, err := encodeStored(stored{keys: []scheduledKey{*first}, keep: m.sched.Keep})
		if err != nil {
			return nil, err
		}
		if err := m.storage.Store(ctx, StorageKey, data); err != nil {
			return nil, fmt.Errorf("storing %s: %w", StorageKey, err)
		}
		return data, nil
	})
}

// legacyKey returns the key an earlier version kept at legacyStorageKey, as
// the first key of the set, or nil when there is none.
func (m *Manager) legacyKey(ctx context.Context, now time.Time) (*scheduledKey, error) {
	pemData, err := m.storage.Load(ctx, legacyStorageKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", legacyStorageKey, err)
	}
	priv, err := tokens.ParsePrivateKey(pemData, nil)
	if err != nil {
		return nil, fmt.Errorf("key in storage at %s: %w", legacyStorageKey, err)
	}
	signer, err := tokens.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	m.logger.Info("started the signing key set from the key generated earlier", zap.String("kid", signer.KeyID()))
	return &scheduledKey{signer: signer, createdAt: now, activatesAt: now}, nil
}

// newKey generates an ES256 key that signs from activatesAt.
func newKey(now, activatesAt time.Time) (*scheduledKey, error) {
	priv, err := tokens.GenerateKey()
	if err != nil {
		return nil, err
	}
	signer, err := tokens.NewSigner(priv)
	if err != nil {
		return nil, err
	}
	return &scheduledKey{signer: signer, createdAt: now, activatesAt: activatesAt}, nil
}

// changeStored applies edit to the stored set under the storage lock and
// stores the result, which it returns; nil when edit changed nothing. The
// stored keep is raised to keep if that is longer. edit sees the keys as
// stored, whose order it may change.
func changeStored(ctx context.Context, storage Storage, now func() time.Time, keep time.Duration,
	edit func([]scheduledKey, time.Time) ([]scheduledKey, error)) ([]byte, error) {
	return withLock(ctx, storage, func() ([]byte, error) {
		st, err := loadStored(ctx, storage)
		if err != nil {
			return nil, err
		}
		changed, err := edit(st.keys, now())
		if err != nil || changed == nil {
			return nil, err
		}
		sortByActivation(changed)
		data, err := encodeStored(stored{keys: changed, keep: max(st.keep, keep)})
		if err != nil {
			return nil, err
		}
		if err := storage.Store(ctx, StorageKey, data); err != nil {
			return nil, fmt.Errorf("storing %s: %w", StorageKey, err)
		}
		return data, nil
	})
}

// loadStored reads and parses the set kept in storage; ErrNoKeySet when
// there is none yet.
func loadStored(ctx context.Context, storage Storage) (stored, error) {
	data, err := storage.Load(ctx, StorageKey)
	if errors.Is(err, fs.ErrNotExist) {
		return stored{}, ErrNoKeySet
	}
	if err != nil {
		return stored{}, fmt.Errorf("loading %s: %w", StorageKey, err)
	}
	return parseStored(data)
}

// withLock runs f holding the key set's storage lock.
func withLock(ctx context.Context, storage Storage, f func() ([]byte, error)) ([]byte, error) {
	lockCtx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if err := storage.Lock(lockCtx, LockName); err != nil {
		return nil, fmt.Errorf("locking storage: %w", err)
	}
	// A lock that cannot be released goes stale and is taken over by the
	// storage (certmagic's file locks expire); nothing better can be done.
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), LockName) }()
	return f()
}

// Signer returns the key that signs now: the current set's.
func (m *Manager) Signer() *tokens.Signer { return m.Current().Signer() }

// Verifier returns the current set's published key with this kid, or nil.
func (m *Manager) Verifier(kid string) *tokens.Verifier { return m.Current().Verifier(kid) }
