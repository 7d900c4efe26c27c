package keyset

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// DefaultLead is how long a new key is published before it signs. A resource
// server that caches the key set for its max-age (5 minutes), or refreshes it
// no more often than every 15 minutes (jwx's floor, inside caddy-jwt), has
// seen the key by the time the first token it signs arrives.
const DefaultLead = time.Hour

// Schedule is the rotation of generated keys.
type Schedule struct {
	// Rotation is how long a key signs before the next one takes over; zero
	// means no new key is ever made (key_rotation off, or oauth2_token).
	Rotation time.Duration
	// Lead is how long a new key is published before it signs.
	Lead time.Duration
	// Keep is how long a key stays published after it stopped signing: the
	// access token lifetime plus Lead, so every token it signed expires
	// first, with the key set's cache time to spare.
	Keep time.Duration
}

// CheckRotation refuses a rotation period that leaves a key signing for less
// time than it is published ahead.
func CheckRotation(rotation, lead time.Duration) error {
	if rotation < 2*lead {
		return fmt.Errorf("must be at least %s (twice the %s a key is published before it signs), or off", 2*lead, lead)
	}
	return nil
}

// storedKey is one key as the set is kept in storage.
type storedKey struct {
	// PrivateKey is the key as unencrypted PKCS#8 PEM.
	PrivateKey  string    `json:"private_key"`
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at"`
}

// storedSet is the storage document: every key that is next, active or not
// yet dropped, in no particular order, and how long a retired key stays.
type storedSet struct {
	Keys []storedKey `json:"keys"`
	// KeepSeconds is the longest Keep of any instance or handler that uses
	// the set: each raises it to its own (its access token lifetime plus the
	// lead), so that one with short-lived tokens never prunes a key that the
	// tokens of another still need.
	KeepSeconds int64 `json:"keep_seconds,omitempty"`
}

// scheduledKey is a stored key, parsed.
type scheduledKey struct {
	signer      *tokens.Signer
	createdAt   time.Time
	activatesAt time.Time
}

// stored is the storage document, parsed.
type stored struct {
	keys []scheduledKey // ordered by activation
	keep time.Duration
}

// withKeep returns sched keeping retired keys at least as long as st says.
func (sched Schedule) withKeep(st stored) Schedule {
	sched.Keep = max(sched.Keep, st.keep)
	return sched
}

// parseStored reads the storage document.
func parseStored(data []byte) (stored, error) {
	var doc storedSet
	if err := json.Unmarshal(data, &doc); err != nil {
		return stored{}, fmt.Errorf("decoding the key set: %w", err)
	}
	if len(doc.Keys) == 0 {
		return stored{}, errors.New("the key set holds no key")
	}
	keys := make([]scheduledKey, 0, len(doc.Keys))
	for i, k := range doc.Keys {
		priv, err := tokens.ParsePrivateKey([]byte(k.PrivateKey), nil)
		if err != nil {
			return stored{}, fmt.Errorf("key %d of the key set: %w", i, err)
		}
		signer, err := tokens.NewSigner(priv)
		if err != nil {
			return stored{}, fmt.Errorf("key %d of the key set: %w", i, err)
		}
		keys = append(keys, scheduledKey{signer: signer, createdAt: k.CreatedAt, activatesAt: k.ActivatesAt})
	}
	sortByActivation(keys)
	return stored{keys: keys, keep: time.Duration(max(doc.KeepSeconds, 0)) * time.Second}, nil
}

// encodeStored writes the storage document.
func encodeStored(st stored) ([]byte, error) {
	doc := storedSet{Keys: make([]storedKey, 0, len(st.keys)), KeepSeconds: int64(st.keep / time.Second)}
	for _, k := range st.keys {
		pemData, err := tokens.MarshalPrivateKey(k.signer.Key())
		if err != nil {
			return nil, err
		}
		doc.Keys = append(doc.Keys, storedKey{PrivateKey: string(pemData), CreatedAt: k.createdAt.UTC(), ActivatesAt: k.activatesAt.UTC()})
	}
	return json.MarshalIndent(doc, "", "\t")
}

func sortByActivation(keys []scheduledKey) {
	slices.SortStableFunc(keys, func(a, b scheduledKey) int { return a.activatesAt.Compare(b.activatesAt) })
}

// activeIndex is the key that signs at now: the last one activated. Should
// none be (a clock behind the instance that made the set), the first one
// signs rather than none.
func activeIndex(keys []scheduledKey, now time.Time) int {
	active := 0
	for i, k := range keys {
		if !k.activatesAt.After(now) {
			active = i
		}
	}
	return active
}

// buildSet computes the states of the keys at now and the set they make,
// with the verification keys published after them.
func buildSet(keys []scheduledKey, now time.Time, sched Schedule, verification []*tokens.Verifier) *Set {
	a := activeIndex(keys, now)
	s := &Set{signer: keys[a].signer, verifiers: make(map[string]*tokens.Verifier)}
	changes := func(t time.Time) {
		if t.After(now) && (s.changesAt.IsZero() || t.Before(s.changesAt)) {
			s.changesAt = t
		}
	}
	describe := func(i int) Key {
		k := Key{CreatedAt: keys[i].createdAt, ActivatesAt: keys[i].activatesAt}
		if i+1 < len(keys) {
			k.DeactivatesAt = keys[i+1].activatesAt
		}
		return k
	}

	active := describe(a)
	active.State = StateActive
	s.add(keys[a].signer.Verifier, active)
	for i := a + 1; i < len(keys); i++ {
		next := describe(i)
		next.State = StateNext
		s.add(keys[i].signer.Verifier, next)
		changes(next.ActivatesAt)
	}
	for i := a - 1; i >= 0; i-- {
		retired := describe(i)
		retired.State = StateRetired
		retired.DropsAt = retired.DeactivatesAt.Add(sched.Keep)
		if !retired.DropsAt.After(now) {
			continue
		}
		s.add(keys[i].signer.Verifier, retired)
		changes(retired.DropsAt)
	}
	for _, v := range verification {
		s.add(v, Key{State: StateVerification})
	}
	s.jwks = s.document()
	return s
}

// nextKeyDue reports whether a new key should be made at now and when it
// would start signing: when no next key exists and the active key has less
// than Lead left of its Rotation.
func nextKeyDue(keys []scheduledKey, now time.Time, sched Schedule) (activatesAt time.Time, due bool) {
	if sched.Rotation <= 0 {
		return time.Time{}, false
	}
	a := activeIndex(keys, now)
	if a < len(keys)-1 {
		return time.Time{}, false // a next key is already published
	}
	rotatesAt := keys[a].activatesAt.Add(sched.Rotation)
	if now.Before(rotatesAt.Add(-sched.Lead)) {
		return time.Time{}, false
	}
	// A set that was left alone longer than its rotation (every instance
	// down) still gets its full lead.
	return later(rotatesAt, now.Add(sched.Lead)), true
}

// pruned drops the keys that have left the set: retired longer than Keep.
func pruned(keys []scheduledKey, now time.Time, sched Schedule) []scheduledKey {
	a := activeIndex(keys, now)
	out := make([]scheduledKey, 0, len(keys))
	for i, k := range keys {
		if i < a && !keys[i+1].activatesAt.Add(sched.Keep).After(now) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
