package secrets_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

// Caddy's hash modules must plug in as they are.
var (
	_ secrets.Comparer = caddyauth.BcryptHash{}
	_ secrets.Comparer = caddyauth.Argon2idHash{}
)

// countingComparer accepts hashed == prefix+plaintext for any of the known
// prefixes and counts its calls, standing in for an expensive hash.
type countingComparer struct {
	calls   atomic.Int64
	mu      sync.Mutex
	hashes  []string
	failErr error
}

func (c *countingComparer) Compare(hashed, plaintext []byte) (bool, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.hashes = append(c.hashes, string(hashed))
	c.mu.Unlock()
	if c.failErr != nil {
		return false, c.failErr
	}
	h := string(hashed)
	i := strings.LastIndexByte(h, '$')
	return strings.TrimRight(h[i+1:], ".") == string(plaintext), nil
}

// fh makes a hash that passes secrets.CheckHash and that countingComparer
// matches against plain: the plaintext padded to bcrypt's 53 characters.
func fh(version, cost, plain string) string {
	return "$" + version + "$" + cost + "$" + plain + strings.Repeat(".", 53-len(plain))
}

func bcryptHash(t *testing.T, secret string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

// argon2idHash builds a cheap PHC argon2id hash in the format caddy hash-password prints.
func argon2idHash(t *testing.T, secret string) string {
	t.Helper()
	salt := make([]byte, 16)
	_, err := rand.Read(salt)
	require.NoError(t, err)
	key := argon2.IDKey([]byte(secret), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// newVerifier builds a Verifier of clients' secrets over the comparers, with
// a cache of cacheSize pairs per kind (none for zero or less).
func newVerifier(bcryptCmp, argon2idCmp secrets.Comparer, fakeHash []byte, cacheSize int) *secrets.Verifier {
	v, _ := newCached(bcryptCmp, argon2idCmp, fakeHash, cacheSize)
	return v
}

// newCached is newVerifier, returning its cache too (nil without one).
func newCached(bcryptCmp, argon2idCmp secrets.Comparer, fakeHash []byte, cacheSize int) (*secrets.Verifier, *secrets.Cache) {
	opts := secrets.Options{Bcrypt: bcryptCmp, Argon2id: argon2idCmp, FakeHash: fakeHash}
	if cacheSize > 0 {
		opts.Cache = secrets.NewCache(cacheSize)
	}
	return secrets.New(opts), opts.Cache
}

// verify checks a client secret; the Verifiers here have no slot bound, so
// it never fails.
func verify(t testing.TB, v *secrets.Verifier, hash, secret string) bool {
	ok, err := v.Verify(context.Background(), secrets.Client, hash, secret)
	require.NoError(t, err)
	return ok
}

func fake(t testing.TB, v *secrets.Verifier, secret string) {
	require.NoError(t, v.Fake(context.Background(), secrets.Client, secret))
}

func TestVerify_RealHashFormats(t *testing.T) {
	v := newVerifier(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, nil, 0)
	b := bcryptHash(t, "s3cret")
	a := argon2idHash(t, "s3cret")

	tests := []struct {
		name   string
		hash   string
		secret string
		want   bool
	}{
		{"bcrypt 2a right", b, "s3cret", true},
		{"bcrypt 2a wrong", b, "s3cret!", false},
		{"bcrypt 2b right", "$2b$" + b[4:], "s3cret", true},
		{"bcrypt 2y from PHP right", "$2y$" + b[4:], "s3cret", true},
		{"bcrypt 2y wrong", "$2y$" + b[4:], "nope", false},
		{"argon2id right", a, "s3cret", true},
		{"argon2id wrong", a, "S3cret", false},
		{"empty secret", b, "", false},
		{"empty hash", "", "s3cret", false},
		{"unknown format", "$1$salt$hash", "s3cret", false},
		{"argon2i is not argon2id", "$argon2i$" + a[len("$argon2id$"):], "s3cret", false},
		{"plaintext stored as hash", "s3cret", "s3cret", false},
		{"malformed bcrypt", "$2a$04$short", "s3cret", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, verify(t, v, tt.hash, tt.secret))
		})
	}
}

func TestVerify_NilComparerRefusesItsFormat(t *testing.T) {
	v := newVerifier(caddyauth.BcryptHash{}, nil, nil, 10)
	assert.False(t, verify(t, v, argon2idHash(t, "x"), "x"))
	assert.True(t, verify(t, v, bcryptHash(t, "x"), "x"))
}

func TestVerify_CacheHitSkipsComparer(t *testing.T) {
	cmp := &countingComparer{}
	v := newVerifier(cmp, cmp, nil, 10)
	hash := fh("2a", "04", "right")

	require.True(t, verify(t, v, hash, "right"))
	require.True(t, verify(t, v, hash, "right"))
	require.True(t, verify(t, v, hash, "right"))
	assert.EqualValues(t, 1, cmp.calls.Load(), "verified pair must be served from the cache")

	// The same secret against another hash is another pair.
	require.True(t, verify(t, v, fh("2b", "04", "right"), "right"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_FailuresAreNeverCached(t *testing.T) {
	cmp := &countingComparer{}
	v := newVerifier(cmp, cmp, nil, 10)
	hash := fh("2a", "04", "right")

	for range 3 {
		require.False(t, verify(t, v, hash, "wrong"))
	}
	assert.EqualValues(t, 3, cmp.calls.Load(), "every wrong guess must pay a comparison")
}

func TestVerify_ComparerErrorIsFalseAndNotCached(t *testing.T) {
	cmp := &countingComparer{failErr: fmt.Errorf("bad hash")}
	v := newVerifier(cmp, cmp, nil, 10)
	assert.False(t, verify(t, v, fh("2a", "04", "x"), "x"))
	assert.False(t, verify(t, v, fh("2a", "04", "x"), "x"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_CacheDisabled(t *testing.T) {
	cmp := &countingComparer{}
	v := newVerifier(cmp, cmp, nil, 0)
	require.True(t, verify(t, v, fh("2a", "04", "x"), "x"))
	require.True(t, verify(t, v, fh("2a", "04", "x"), "x"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_CacheEvictsWithinBound(t *testing.T) {
	const size = 8
	cmp := &countingComparer{}
	v, c := newCached(cmp, cmp, nil, size)

	const n = 100
	for i := range n {
		s := fmt.Sprint("s", i)
		require.True(t, verify(t, v, fh("2a", "04", s), s))
		require.Equal(t, min(i+1, size), c.Len(secrets.Client), "cache size after %d inserts", i+1)
	}
	require.EqualValues(t, n, cmp.calls.Load())

	// The newest pair is always cached: eviction makes room before inserting.
	require.True(t, verify(t, v, fh("2a", "04", "s99"), "s99"))
	assert.EqualValues(t, n, cmp.calls.Load())
}

// blockingComparer accepts everything once released and counts comparisons.
type blockingComparer struct {
	started atomic.Int64
	release chan struct{}
}

func (c *blockingComparer) Compare(_, _ []byte) (bool, error) {
	c.started.Add(1)
	<-c.release
	return true, nil
}

func TestVerify_ConcurrentSamePairSharesOneComparison(t *testing.T) {
	cmp := &blockingComparer{release: make(chan struct{})}
	v, c := newCached(cmp, cmp, nil, 10)

	const n = 20
	var ready, done sync.WaitGroup
	ready.Add(n)
	results := make([]bool, n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			results[i] = verify(t, v, fh("2a", "04", "x"), "x")
		})
	}
	// Hold the first comparison until every goroutine is about to verify, so
	// that without collapsing each of them would start its own.
	ready.Wait()
	for cmp.started.Load() == 0 {
		runtime.Gosched()
	}
	for range 100 {
		runtime.Gosched()
	}
	close(cmp.release)
	done.Wait()

	for _, r := range results {
		assert.True(t, r)
	}
	assert.Less(t, cmp.started.Load(), int64(n), "concurrent verifications of one pair were not collapsed")
	assert.Equal(t, 1, c.Len(secrets.Client))
}

func TestFake_ComparesAgainstFakeHash(t *testing.T) {
	cmp := &countingComparer{}
	fakeHash := fh("2a", "04", "antitiming")
	v, c := newCached(cmp, nil, []byte(fakeHash), 10)

	fake(t, v, "guess")
	fake(t, v, "antitiming") // even the fake's own plaintext must not be cached
	fake(t, v, "antitiming")
	assert.EqualValues(t, 3, cmp.calls.Load())
	assert.Equal(t, []string{fakeHash, fakeHash, fakeHash}, cmp.hashes)
	assert.Equal(t, 0, c.Len(secrets.Client))
}

func TestFake_RealBcryptCostsAComparison(t *testing.T) {
	v := newVerifier(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, []byte(argon2idHash(t, "antitiming")), 10)
	fake(t, v, "anything") // must not panic; argon2id fake hash routed to argon2id
}

func TestFake_WithoutFakeHashIsHarmless(t *testing.T) {
	cmp := &countingComparer{}
	v := newVerifier(cmp, cmp, nil, 10)
	fake(t, v, "x")
	assert.Zero(t, cmp.calls.Load())
}

// An unknown id must cost what a known one costs with the hashes actually in use,
// so once Verify has seen a real hash, Fake compares against it rather than
// against a fake hash of another cost.
func TestFake_MirrorsTheHashesInUse(t *testing.T) {
	cmp := &countingComparer{}
	fakeHash, real := fh("2a", "14", "antitiming"), fh("2b", "04", "secret")
	v, c := newCached(cmp, cmp, []byte(fakeHash), 10)

	fake(t, v, "guess")
	require.True(t, verify(t, v, real, "secret"))
	fake(t, v, "guess")
	require.True(t, verify(t, v, real, "secret")) // cached: no comparison
	fake(t, v, "secret")                          // the answer is discarded and never cached
	assert.Equal(t, []string{fakeHash, real, real, real}, cmp.hashes)
	assert.Equal(t, 1, c.Len(secrets.Client))
}

// Caddy's argon2id comparer misbehaves on a hash whose key part is empty (it
// matches or panics), and panics on t=0; Verify must refuse such hashes before
// comparing, whichever backend stored them.
func TestVerify_RefusesHashesFailingCheckHash(t *testing.T) {
	v := newVerifier(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, nil, 10)
	emptyKey := "$argon2id$v=19$m=64,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$"
	assert.False(t, verify(t, v, emptyKey, "anything"))
	assert.False(t, verify(t, v, "$argon2id$v=19$m=64,t=0,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg", "x"))
}

func TestVerify_SlotsBoundTheComparisons(t *testing.T) {
	cmp := &blockingComparer{release: make(chan struct{})}
	cache := secrets.NewCache(10)
	v := secrets.New(secrets.Options{Bcrypt: cmp, Cache: cache, Slots: secrets.NewSlots(1), Wait: 50 * time.Millisecond})
	ctx := context.Background()

	// A pair verified before the slot is taken is remembered.
	close(cmp.release)
	ok, err := v.Verify(ctx, secrets.Client, fh("2a", "04", "known"), "known")
	require.NoError(t, err)
	require.True(t, ok)

	held := &blockingComparer{release: make(chan struct{})}
	hv := secrets.New(secrets.Options{Bcrypt: held, Cache: cache, Slots: secrets.NewSlots(1), Wait: 50 * time.Millisecond,
		FakeHash: []byte(fh("2a", "04", "fake"))})
	done := make(chan struct{})
	go func() {
		_, _ = hv.Verify(ctx, secrets.Client, fh("2a", "04", "slow"), "slow")
		close(done)
	}()
	for held.started.Load() == 0 {
		runtime.Gosched()
	}

	start := time.Now()
	_, err = hv.Verify(ctx, secrets.Client, fh("2a", "04", "other"), "other")
	assert.ErrorIs(t, err, secrets.ErrBusy, "no slot within the wait")
	assert.Less(t, time.Since(start), time.Second, "the wait is bounded")
	assert.ErrorIs(t, hv.Fake(ctx, secrets.User, "guess"), secrets.ErrBusy, "a fake check takes a slot too")

	start = time.Now()
	ok, err = hv.Verify(ctx, secrets.Client, fh("2a", "04", "known"), "known")
	require.NoError(t, err)
	assert.True(t, ok, "a remembered pair needs no slot")
	assert.Less(t, time.Since(start), 20*time.Millisecond, "and never waits")

	close(held.release)
	<-done
}

func TestCache_KindsHaveTheirOwnBudgets(t *testing.T) {
	cmp := &countingComparer{}
	cache := secrets.NewCache(4)
	v := secrets.New(secrets.Options{Bcrypt: cmp, Cache: cache})
	ctx := context.Background()
	ok, err := v.Verify(ctx, secrets.Client, fh("2a", "04", "client"), "client")
	require.NoError(t, err)
	require.True(t, ok)
	for i := range 100 {
		p := fmt.Sprint("user", i)
		_, err := v.Verify(ctx, secrets.User, fh("2a", "04", p), p)
		require.NoError(t, err)
	}
	assert.Equal(t, 4, cache.Len(secrets.User))
	assert.True(t, v.Cached(secrets.Client, fh("2a", "04", "client"), "client"), "user logins never evict a client")
	assert.False(t, v.Cached(secrets.User, fh("2a", "04", "client"), "client"), "nor does a client's pair count as a user's")
}

// An unknown username must cost what a user's password costs, even when
// the clients' secrets, hashed at another cost, were checked last.
func TestFake_MirrorsTheHashesOfItsKind(t *testing.T) {
	cmp := &countingComparer{}
	v := secrets.New(secrets.Options{Bcrypt: cmp, FakeHash: []byte(fh("2a", "14", "fake"))})
	ctx := context.Background()
	userHash, clientHash := fh("2a", "10", "pw"), fh("2a", "14", "secret")

	v.Observe(secrets.User, userHash)
	require.NoError(t, v.Fake(ctx, secrets.User, "guess"))
	_, err := v.Verify(ctx, secrets.Client, clientHash, "secret")
	require.NoError(t, err)
	require.NoError(t, v.Fake(ctx, secrets.User, "guess"))
	assert.Equal(t, []string{userHash, clientHash, userHash}, cmp.hashes)

	v.Observe(secrets.User, "not a hash")
	require.NoError(t, v.Fake(ctx, secrets.User, "guess"))
	assert.Equal(t, userHash, cmp.hashes[3], "a malformed hash is not observed")
}
