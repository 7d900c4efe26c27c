// Package secrets verifies client secrets and user passwords against stored hashes
// without letting the hash function cap throughput, exhaust the machine or leak
// timing.
//
// The hash formats are the ones `caddy hash-password` and PHP's password_hash print:
// bcrypt ($2a$, $2b$, $2y$) and argon2id in PHC form ($argon2id$). The package does
// not import Caddy: the comparers are passed in, and caddyauth.BcryptHash and
// caddyauth.Argon2idHash satisfy Comparer as they are.
package secrets

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Comparer checks a plaintext against a hash in constant time. It is the method set
// of caddyauth.Comparer, so Caddy's hash modules plug in without an adapter.
type Comparer interface {
	// Compare reports whether plaintext hashes to hashed. An error means the hash
	// could not be used (malformed, unsupported parameters), not a mismatch.
	Compare(hashed, plaintext []byte) (bool, error)
}

// Kind says whose secret is checked. Clients and users are kept apart: each
// has its own share of the cache, so that a flood of user logins cannot
// evict the busy clients, and its own fake check, so that an unknown
// username costs what a user's password costs, not a client's secret.
type Kind uint8

// The kinds of secret.
const (
	Client Kind = iota
	User
	kinds
)

// DefaultWait is how long a check waits for a hashing slot before it gives
// up with ErrBusy (DESIGN.md §6a).
const DefaultWait = time.Second

// ErrBusy is a check that found every hashing slot taken for longer than its
// wait: the server is saturated with hashing, and answers 429 rather than
// queue without end.
var ErrBusy = errors.New("every password-hash slot is busy")

// Options configure a Verifier.
type Options struct {
	// Bcrypt and Argon2id compare hashes of their format; either may be nil
	// to refuse that format.
	Bcrypt, Argon2id Comparer
	// FakeHash is compared against for an unknown client or user until a
	// real hash of that kind has been seen (Observe, Verify). It should have
	// the format and cost of the real hashes.
	FakeHash []byte
	// Cache remembers verified pairs, shared by every Verifier given it (and
	// so across config reloads); nil: nothing is remembered.
	Cache *Cache
	// Slots bounds the comparisons running at once; nil: no bound.
	Slots *Slots
	// Wait is the longest wait for a slot; zero: DefaultWait.
	Wait time.Duration
}

// Verifier checks secrets against bcrypt and argon2id hashes. It is safe for
// concurrent use.
//
// Slow hashes are the point of password storage, but on a token endpoint they would
// bound requests per second by the cost factor, so a Verifier remembers the (hash,
// secret) pairs it has verified, as Caddy's basic_auth hash cache does. Only
// successes are remembered: a wrong guess always pays the full price, and at most
// Slots of them are paid at once, so that guesses cannot take the CPU and memory
// from the requests whose secret is remembered.
type Verifier struct {
	opts Options

	// lastHash is, per kind, the last stored hash that was really compared
	// or observed. Fake compares against it, so an unknown id costs what a
	// known one of its kind costs with the algorithm and cost factor in use.
	lastHash [kinds]atomic.Pointer[string]

	// inflight collapses concurrent verifications of one pair (a client sending a
	// burst of requests) into one comparison, as basic_auth does.
	inflight singleflight.Group
}

// New returns a Verifier that hands "$2a$", "$2b$" and "$2y$" hashes to
// opts.Bcrypt and "$argon2id$" hashes to opts.Argon2id. x/crypto/bcrypt
// accepts any minor version, so caddyauth.BcryptHash also verifies the $2y$
// hashes of PHP.
func New(opts Options) *Verifier {
	opts.FakeHash = append([]byte(nil), opts.FakeHash...)
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	return &Verifier{opts: opts}
}

// Cached reports whether the pair was verified before and is remembered:
// the check that costs nothing and never waits, which a throttled client
// still passes.
func (v *Verifier) Cached(kind Kind, hash, secret string) bool {
	return v.opts.Cache != nil && v.opts.Cache.contains(kind, cacheKey(hash, secret))
}

// Verify reports whether secret matches hash. It is false for an empty or unknown
// hash format and for any comparer error, so a malformed stored hash locks the
// account out instead of letting anyone in. A remembered pair is answered at
// once; any other waits at most Options.Wait for a slot, else ErrBusy (or
// the context's error).
func (v *Verifier) Verify(ctx context.Context, kind Kind, hash, secret string) (bool, error) {
	cmp := v.comparer(hash)
	if cmp == nil {
		return false, nil
	}
	key := cacheKey(hash, secret)
	if v.opts.Cache != nil && v.opts.Cache.contains(kind, key) {
		return true, nil
	}
	// Caddy's argon2id comparer matches any password against a hash with an
	// empty key, and panics on t=0 or p=0: never hand it a hash that fails
	// CheckHash, whichever backend stored it.
	if CheckHash(hash) != nil {
		return false, nil
	}
	v.lastHash[kind].Store(&hash)
	res, err, _ := v.inflight.Do(string(key[:]), func() (any, error) {
		release, err := v.opts.Slots.acquire(ctx, v.opts.Wait)
		if err != nil {
			return false, err
		}
		defer release()
		ok, cerr := cmp.Compare([]byte(hash), []byte(secret))
		ok = cerr == nil && ok
		if ok && v.opts.Cache != nil {
			v.opts.Cache.add(kind, key)
		}
		return ok, nil
	})
	if err != nil {
		return false, err
	}
	return res.(bool), nil
}

// Fake burns the time of one uncached comparison. Callers use it when a user
// does not exist, then fail; the result is deliberately ignored. It compares
// against the last real hash of the kind Verify or Observe saw, so unknown
// ids cost the same as known ones with the hash parameters in use; until
// then, against Options.FakeHash. It takes a slot like Verify, and returns
// ErrBusy as Verify does.
func (v *Verifier) Fake(ctx context.Context, kind Kind, secret string) error {
	hash := v.opts.FakeHash
	if last := v.lastHash[kind].Load(); last != nil {
		hash = []byte(*last)
	}
	cmp := v.comparer(string(hash))
	if cmp == nil {
		return nil
	}
	release, err := v.opts.Slots.acquire(ctx, v.opts.Wait)
	if err != nil {
		return err
	}
	defer release()
	_, _ = cmp.Compare(hash, []byte(secret))
	return nil
}

// Observe records hash as one in use for kind, for Fake to mirror before
// Verify has compared one: provisioning passes a user's hash, so that the
// very first unknown username after a start costs what a user costs.
func (v *Verifier) Observe(kind Kind, hash string) {
	if v.comparer(hash) != nil && CheckHash(hash) == nil {
		v.lastHash[kind].Store(&hash)
	}
}

// comparer picks the comparer for the hash's format, or nil.
func (v *Verifier) comparer(hash string) Comparer {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return v.opts.Bcrypt
	case strings.HasPrefix(hash, "$argon2id$"):
		return v.opts.Argon2id
	}
	return nil
}

// cacheKey digests the pair so that the cache never holds a plaintext secret; the
// NUL separator keeps ("ab","c") and ("a","bc") apart, since no hash contains NUL.
// A changed hash or secret is another key, so a cache shared across reloads can
// never let an old secret in.
func cacheKey(hash, secret string) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
