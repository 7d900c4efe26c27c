// Package secrets verifies client secrets and user passwords against stored hashes
// without letting the hash function cap throughput or leak timing.
//
// The hash formats are the ones `caddy hash-password` and PHP's password_hash print:
// bcrypt ($2a$, $2b$, $2y$) and argon2id in PHC form ($argon2id$). The package does
// not import Caddy: the comparers are passed in, and caddyauth.BcryptHash and
// caddyauth.Argon2idHash satisfy Comparer as they are.
package secrets

import (
	"crypto/sha256"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
)

// Comparer checks a plaintext against a hash in constant time. It is the method set
// of caddyauth.Comparer, so Caddy's hash modules plug in without an adapter.
type Comparer interface {
	// Compare reports whether plaintext hashes to hashed. An error means the hash
	// could not be used (malformed, unsupported parameters), not a mismatch.
	Compare(hashed, plaintext []byte) (bool, error)
}

// Verifier checks secrets against bcrypt and argon2id hashes. It is safe for
// concurrent use.
//
// Slow hashes are the point of password storage, but on a token endpoint they would
// bound requests per second by the cost factor, so a Verifier remembers the (hash,
// secret) pairs it has verified, as Caddy's basic_auth hash cache does. Only
// successes are remembered: a wrong guess always pays the full price.
type Verifier struct {
	bcrypt   Comparer
	argon2id Comparer
	fakeHash []byte
	cache    *cache // nil: caching disabled

	// lastHash is the last stored hash that was really compared. Fake compares
	// against it, so an unknown id costs what a known one costs with the
	// algorithm and cost factor actually in use, not those of a fixed fake hash.
	lastHash atomic.Pointer[string]

	// inflight collapses concurrent verifications of one pair (a client sending a
	// burst of requests) into one comparison, as basic_auth does.
	inflight singleflight.Group
}

// New returns a Verifier that hands "$2a$", "$2b$" and "$2y$" hashes to bcrypt and
// "$argon2id$" hashes to argon2id; either may be nil to refuse that format.
// x/crypto/bcrypt accepts any minor version, so caddyauth.BcryptHash also verifies
// the $2y$ hashes of PHP.
//
// fakeHash is compared against when the client or user is unknown (see Fake) so
// that unknown ids cost the same time as known ones; it should have the format and
// cost of the real hashes; without one, Fake does nothing and timing tells
// which ids exist. cacheSize bounds the number of remembered successes;
// zero or less disables the cache.
func New(bcrypt, argon2id Comparer, fakeHash []byte, cacheSize int) *Verifier {
	v := &Verifier{
		bcrypt:   bcrypt,
		argon2id: argon2id,
		fakeHash: append([]byte(nil), fakeHash...),
	}
	if cacheSize > 0 {
		v.cache = newCache(cacheSize)
	}
	return v
}

// Verify reports whether secret matches hash. It is false for an empty or unknown
// hash format and for any comparer error, so a malformed stored hash locks the
// account out instead of letting anyone in.
func (v *Verifier) Verify(hash, secret string) bool {
	cmp := v.comparer(hash)
	if cmp == nil {
		return false
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = cacheKey(hash, secret)
		if v.cache.contains(key) {
			return true
		}
	}
	// Caddy's argon2id comparer matches any password against a hash with an
	// empty key, and panics on t=0 or p=0: never hand it a hash that fails
	// CheckHash, whichever backend stored it.
	if CheckHash(hash) != nil {
		return false
	}
	v.lastHash.Store(&hash)
	if v.cache == nil {
		ok, err := cmp.Compare([]byte(hash), []byte(secret))
		return err == nil && ok
	}
	res, _, _ := v.inflight.Do(string(key[:]), func() (any, error) {
		ok, err := cmp.Compare([]byte(hash), []byte(secret))
		ok = err == nil && ok
		if ok {
			v.cache.add(key)
		}
		return ok, nil
	})
	return res.(bool)
}

// Fake burns the time of one uncached comparison. Callers use it when the client
// or user does not exist, then fail; the result is deliberately ignored. It
// compares against the last real hash Verify saw (whatever its owner, the answer
// is thrown away), so unknown ids cost the same as known ones with the hash
// parameters in use; until Verify has seen one, against the fake hash given to New.
func (v *Verifier) Fake(secret string) {
	hash := v.fakeHash
	if last := v.lastHash.Load(); last != nil {
		hash = []byte(*last)
	}
	if cmp := v.comparer(string(hash)); cmp != nil {
		_, _ = cmp.Compare(hash, []byte(secret))
	}
}

// comparer picks the comparer for the hash's format, or nil.
func (v *Verifier) comparer(hash string) Comparer {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return v.bcrypt
	case strings.HasPrefix(hash, "$argon2id$"):
		return v.argon2id
	}
	return nil
}

// cacheKey digests the pair so that the cache never holds a plaintext secret; the
// NUL separator keeps ("ab","c") and ("a","bc") apart, since no hash contains NUL.
func cacheKey(hash, secret string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
