// Package keyset keeps the keys that sign and verify access tokens: the key
// that signs now, the keys a resource server must still or already accept,
// and the key set document (RFC 7517) that publishes them. Generated keys
// rotate on a schedule every instance sharing one storage follows: a new key
// is published before it signs, and an old one stays published until the
// tokens it signed have expired. It knows nothing of HTTP or Caddy; storage
// is anything with certmagic.Storage's Load, Store, Lock and Unlock.
package keyset

import (
	"encoding/json"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// State is where a key is in its life.
type State string

// The states of a key. A rotating key goes next → active → retired and then
// leaves the set; a verification key is published and never signs.
const (
	StateNext         State = "next"
	StateActive       State = "active"
	StateRetired      State = "retired"
	StateVerification State = "verification"
)

// Key describes one key of a set, for listing and logging.
type Key struct {
	ID        string
	Algorithm string
	State     State
	// CreatedAt and ActivatesAt are zero for a key file's key and for
	// verification keys: nothing schedules them.
	CreatedAt   time.Time
	ActivatesAt time.Time
	// DeactivatesAt is when the key stopped, or stops, signing: the next
	// key's activation; zero while no next key exists.
	DeactivatesAt time.Time
	// DropsAt is when a retired key leaves the set: every token it signed
	// has expired by then. Zero for a key that is not retired.
	DropsAt time.Time
}

// Set is the key set at one moment: immutable, so a request reads the signer
// and the published document of one consistent set without locking.
type Set struct {
	signer    *tokens.Signer
	keys      []Key
	verifiers map[string]*tokens.Verifier
	jwks      []byte
	// changesAt is when the states of the keys change next (an activation or
	// a drop); zero when no change is scheduled.
	changesAt time.Time
}

// Signer returns the key that signs access tokens now.
func (s *Set) Signer() *tokens.Signer { return s.signer }

// Verifier returns the published key with this kid, or nil: every key the
// set publishes verifies, retired and next keys included.
func (s *Set) Verifier(kid string) *tokens.Verifier { return s.verifiers[kid] }

// Keys describes the published keys, the signing key first.
func (s *Set) Keys() []Key { return s.keys }

// JWKS returns the key set document, {"keys":[...]}, built once with the set
// so that serving it costs no more than serving a file. The caller must not
// modify it.
func (s *Set) JWKS() []byte { return s.jwks }

// Static returns the set of an operator's key file: signer signs, and it and
// the verification keys are published. Nothing in it ever changes.
func Static(signer *tokens.Signer, verification []*tokens.Verifier) *Set {
	s := &Set{signer: signer, verifiers: make(map[string]*tokens.Verifier)}
	s.add(signer.Verifier, Key{State: StateActive})
	for _, v := range verification {
		s.add(v, Key{State: StateVerification})
	}
	s.jwks = s.document()
	return s
}

// add publishes v with the description k, once per kid: a verification key
// that is also the signing key is listed as the signing key.
func (s *Set) add(v *tokens.Verifier, k Key) {
	if _, dup := s.verifiers[v.KeyID()]; dup {
		return
	}
	k.ID, k.Algorithm = v.KeyID(), v.Algorithm()
	s.verifiers[v.KeyID()] = v
	s.keys = append(s.keys, k)
}

// document encodes the published keys as a JWK Set, in the order of keys.
func (s *Set) document() []byte {
	doc := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: make([]json.RawMessage, 0, len(s.keys))}
	for _, k := range s.keys {
		doc.Keys = append(doc.Keys, s.verifiers[k.ID].JWK())
	}
	// RawMessages of valid JSON and a struct: this cannot fail.
	b, _ := json.Marshal(doc)
	return b
}

// Current returns s itself: a fixed set is always the one in force.
func (s *Set) Current() *Set { return s }
