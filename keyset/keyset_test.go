package keyset

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testSchedule rotates every 30 days, publishes an hour ahead, and keeps a
// retired key two hours (a one-hour access token lifetime plus the lead).
var testSchedule = Schedule{Rotation: 30 * 24 * time.Hour, Lead: time.Hour, Keep: 2 * time.Hour}

// clock is a settable time shared by managers in one test.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock { c := new(clock); c.set(t); return c }
func (c *clock) now() time.Time   { return *c.t.Load() }
func (c *clock) set(t time.Time)  { c.t.Store(&t) }

// newStorage is Caddy's default storage, files in a temp dir.
func newStorage(t *testing.T) *certmagic.FileStorage {
	return &certmagic.FileStorage{Path: t.TempDir()}
}

func open(t *testing.T, storage Storage, c *clock, sched Schedule) *Manager {
	t.Helper()
	m, err := Open(t.Context(), storage, Options{Schedule: sched, Now: c.now})
	require.NoError(t, err)
	return m
}

// published returns the kids of the JWKS document, in order.
func published(t *testing.T, s *Set) []string {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(s.JWKS(), &doc))
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k["kid"].(string))
	}
	return kids
}

func TestOpen_CreatesOneSigningKey(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	m := open(t, storage, c, testSchedule)
	set := m.Current()
	require.NotNil(t, set.Signer())
	assert.Equal(t, []string{set.Signer().KeyID()}, published(t, set))
	assert.Equal(t, StateActive, set.Keys()[0].State)

	again := open(t, storage, c, testSchedule)
	assert.Equal(t, set.Signer().KeyID(), again.Current().Signer().KeyID(), "a second instance loads the same key")
}

func TestManager_RotatesOnSchedule(t *testing.T) {
	c := newClock(t0)
	m := open(t, newStorage(t), c, testSchedule)
	first := m.Current().Signer().KeyID()

	c.set(t0.Add(testSchedule.Rotation - testSchedule.Lead - time.Second))
	m.Refresh(t.Context())
	assert.Equal(t, []string{first}, published(t, m.Current()), "not due yet")

	c.set(t0.Add(testSchedule.Rotation - testSchedule.Lead))
	m.Refresh(t.Context())
	set := m.Current()
	require.Len(t, set.Keys(), 2, "the next key is published")
	next := set.Keys()[1]
	assert.Equal(t, StateNext, next.State)
	assert.Equal(t, t0.Add(testSchedule.Rotation), next.ActivatesAt)
	assert.Equal(t, first, set.Signer().KeyID(), "and does not sign yet")

	c.set(t0.Add(testSchedule.Rotation))
	m.Refresh(t.Context())
	set = m.Current()
	assert.Equal(t, next.ID, set.Signer().KeyID(), "the next key signs from its activation")
	assert.Equal(t, []string{next.ID, first}, published(t, set), "the old key is still published")
	assert.Equal(t, StateRetired, set.Keys()[1].State)
	assert.NotNil(t, set.Verifier(first), "and verifies the tokens it signed")

	c.set(t0.Add(testSchedule.Rotation + testSchedule.Keep))
	m.Refresh(t.Context())
	assert.Equal(t, []string{next.ID}, published(t, m.Current()), "dropped once its tokens expired")
	assert.Nil(t, m.Current().Verifier(first))
}

func TestManager_InstancesFollowOneSchedule(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	a := open(t, storage, c, testSchedule)
	b := open(t, storage, c, testSchedule)

	c.set(t0.Add(testSchedule.Rotation - testSchedule.Lead))
	var wg sync.WaitGroup
	for _, m := range []*Manager{a, b} {
		wg.Go(func() { m.Refresh(t.Context()) })
	}
	wg.Wait()
	a.Refresh(t.Context())
	b.Refresh(t.Context())
	require.Len(t, a.Current().Keys(), 2, "one next key, made by one instance")
	assert.Equal(t, published(t, a.Current()), published(t, b.Current()), "both publish it before it signs")
	assert.Equal(t, a.Current().Signer().KeyID(), b.Current().Signer().KeyID())

	c.set(t0.Add(testSchedule.Rotation))
	a.Refresh(t.Context())
	b.Refresh(t.Context())
	assert.Equal(t, a.Current().Keys()[0].ID, a.Current().Signer().KeyID())
	assert.Equal(t, a.Current().Signer().KeyID(), b.Current().Signer().KeyID(), "both switch at the activation")
}

func TestManager_RotationOffKeepsOneKey(t *testing.T) {
	c := newClock(t0)
	m := open(t, newStorage(t), c, Schedule{Keep: time.Hour})
	first := m.Current().Signer().KeyID()
	c.set(t0.Add(10 * 365 * 24 * time.Hour))
	m.Refresh(t.Context())
	assert.Equal(t, []string{first}, published(t, m.Current()))
}

func TestManager_LateInstanceStillGivesTheFullLead(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	open(t, storage, c, testSchedule)
	// Every instance was down past the rotation: the next key must still be
	// published an hour before it signs.
	late := t0.Add(2 * testSchedule.Rotation)
	c.set(late)
	m := open(t, storage, c, testSchedule)
	keys := m.Current().Keys()
	require.Len(t, keys, 2)
	assert.Equal(t, late.Add(testSchedule.Lead), keys[1].ActivatesAt)
}

func TestOpen_StartsFromTheLegacyKey(t *testing.T) {
	storage := newStorage(t)
	priv, err := tokens.GenerateKey()
	require.NoError(t, err)
	pemData, err := tokens.MarshalPrivateKey(priv)
	require.NoError(t, err)
	require.NoError(t, storage.Store(t.Context(), legacyStorageKey, pemData))
	legacy, err := tokens.NewSigner(priv)
	require.NoError(t, err)

	m := open(t, storage, newClock(t0), testSchedule)
	assert.Equal(t, legacy.KeyID(), m.Current().Signer().KeyID(), "tokens signed before the upgrade still verify")
}

// failingStorage fails every Load after the first n.
type failingStorage struct {
	Storage
	loads atomic.Int32
	n     int32
}

func (f *failingStorage) Load(ctx context.Context, key string) ([]byte, error) {
	if f.loads.Add(1) > f.n {
		return nil, errors.New("storage is down")
	}
	return f.Storage.Load(ctx, key)
}

func TestManager_StorageFailureKeepsTheSchedule(t *testing.T) {
	inner := newStorage(t)
	c := newClock(t0)
	open(t, inner, c, testSchedule) // creates the set
	next, err := Rotate(t.Context(), inner, c.now, testSchedule, false)
	require.NoError(t, err)
	// Open reads the set twice (its own read and a Refresh); then storage is
	// gone.
	failing := &failingStorage{Storage: inner, n: 2}
	m := open(t, failing, c, testSchedule)
	before := m.Current()
	require.Len(t, before.Keys(), 2)

	c.set(t0.Add(time.Minute))
	m.Refresh(t.Context())
	assert.Same(t, before, m.Current(), "nothing changed: the set in force stays")

	// The next key's activation comes during the outage: the instance
	// switches as the others do, from the set it last read.
	c.set(next.ActivatesAt)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx, 50*time.Millisecond); close(done) }()
	require.Eventually(t, func() bool { return m.Current().Signer().KeyID() == next.ID }, 5*time.Second, 5*time.Millisecond)
	loads := failing.loads.Load()
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	assert.Less(t, failing.loads.Load()-loads, int32(20), "failing reads are retried on the interval, not in a loop")
}

func TestManager_RetiredKeysStayAsLongAsAnyInstanceNeeds(t *testing.T) {
	sched := Schedule{Rotation: 4 * time.Hour, Lead: time.Hour}
	short, long := sched, sched
	short.Keep, long.Keep = 2*time.Hour, 30*time.Hour
	c := newClock(t0)
	storage := newStorage(t)
	a := open(t, storage, c, short)
	b := open(t, storage, c, long) // an instance whose tokens live 29 hours
	first := a.Current().Signer().KeyID()

	for _, at := range []time.Duration{3 * time.Hour, 4 * time.Hour, 7 * time.Hour} {
		c.set(t0.Add(at))
		a.Refresh(t.Context()) // the short-lived instance makes the keys, and prunes
		b.Refresh(t.Context())
	}
	require.Len(t, a.Current().Keys(), 3, "a third key is next")
	assert.NotNil(t, b.Current().Verifier(first), "the first key's tokens are still valid at b")
	assert.NotNil(t, a.Current().Verifier(first), "and a publishes it as long")
}

func TestRotate_KeepsANextKeyThatMaySignAlready(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	m := open(t, storage, c, testSchedule)
	soon, err := Rotate(t.Context(), storage, c.now, testSchedule, false)
	require.NoError(t, err)
	// Three quarters of the lead later, an instance with a clock a few
	// minutes ahead may sign with it: a new rotation keeps it.
	c.set(t0.Add(testSchedule.Lead * 3 / 4))
	later, err := Rotate(t.Context(), storage, c.now, testSchedule, false)
	require.NoError(t, err)
	m.Refresh(t.Context())
	assert.Equal(t, []string{m.Current().Signer().KeyID(), soon.ID, later.ID}, published(t, m.Current()))
}

func TestRotate(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	m := open(t, storage, c, testSchedule)
	first := m.Current().Signer().KeyID()

	t.Run("publishes a key that signs after the lead", func(t *testing.T) {
		k, err := Rotate(t.Context(), storage, c.now, testSchedule, false)
		require.NoError(t, err)
		assert.Equal(t, StateNext, k.State)
		assert.Equal(t, t0.Add(testSchedule.Lead), k.ActivatesAt)
		m.Refresh(t.Context())
		assert.Equal(t, []string{first, k.ID}, published(t, m.Current()))
		assert.Equal(t, first, m.Current().Signer().KeyID())

		again, err := Rotate(t.Context(), storage, c.now, testSchedule, false)
		require.NoError(t, err)
		m.Refresh(t.Context())
		assert.Equal(t, []string{first, again.ID}, published(t, m.Current()), "replaces a next key that never signed")
	})
	t.Run("now replaces every key at once", func(t *testing.T) {
		k, err := Rotate(t.Context(), storage, c.now, testSchedule, true)
		require.NoError(t, err)
		assert.Equal(t, StateActive, k.State)
		m.Refresh(t.Context())
		assert.Equal(t, []string{k.ID}, published(t, m.Current()))
		assert.Equal(t, k.ID, m.Current().Signer().KeyID())

		keys, err := List(t.Context(), storage, c.now(), testSchedule)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		assert.Equal(t, k.ID, keys[0].ID)
	})
}

func TestManager_RunSwitchesAtActivation(t *testing.T) {
	c := newClock(t0)
	storage := newStorage(t)
	m := open(t, storage, c, testSchedule)
	k, err := Rotate(t.Context(), storage, c.now, testSchedule, false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go m.Run(ctx, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(m.Current().Keys()) == 2 }, 5*time.Second, 5*time.Millisecond)
	c.set(k.ActivatesAt)
	require.Eventually(t, func() bool { return m.Current().Signer().KeyID() == k.ID }, 5*time.Second, 5*time.Millisecond)
}

func TestStatic_PublishesVerificationKeys(t *testing.T) {
	signKey, err := tokens.GenerateKey()
	require.NoError(t, err)
	signer, err := tokens.NewSigner(signKey)
	require.NoError(t, err)
	otherKey, err := tokens.GenerateKey()
	require.NoError(t, err)
	other, err := tokens.NewVerifier(otherKey.Public())
	require.NoError(t, err)

	set := Static(signer, []*tokens.Verifier{other, signer.Verifier})
	assert.Equal(t, []string{signer.KeyID(), other.KeyID()}, published(t, set), "each key once, the signing key first")
	assert.Equal(t, StateVerification, set.Keys()[1].State)
	assert.Same(t, other, set.Verifier(other.KeyID()))
}

func TestCheckRotation(t *testing.T) {
	assert.NoError(t, CheckRotation(2*time.Hour, time.Hour))
	assert.Error(t, CheckRotation(time.Hour, time.Hour))
}
