package secrets_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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

func TestVerify_RealHashFormats(t *testing.T) {
	v := secrets.New(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, nil, 0)
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
			assert.Equal(t, tt.want, v.Verify(tt.hash, tt.secret))
		})
	}
}

func TestVerify_NilComparerRefusesItsFormat(t *testing.T) {
	v := secrets.New(caddyauth.BcryptHash{}, nil, nil, 10)
	assert.False(t, v.Verify(argon2idHash(t, "x"), "x"))
	assert.True(t, v.Verify(bcryptHash(t, "x"), "x"))
}

func TestVerify_CacheHitSkipsComparer(t *testing.T) {
	cmp := &countingComparer{}
	v := secrets.New(cmp, cmp, nil, 10)
	hash := fh("2a", "04", "right")

	require.True(t, v.Verify(hash, "right"))
	require.True(t, v.Verify(hash, "right"))
	require.True(t, v.Verify(hash, "right"))
	assert.EqualValues(t, 1, cmp.calls.Load(), "verified pair must be served from the cache")

	// The same secret against another hash is another pair.
	require.True(t, v.Verify(fh("2b", "04", "right"), "right"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_FailuresAreNeverCached(t *testing.T) {
	cmp := &countingComparer{}
	v := secrets.New(cmp, cmp, nil, 10)
	hash := fh("2a", "04", "right")

	for range 3 {
		require.False(t, v.Verify(hash, "wrong"))
	}
	assert.EqualValues(t, 3, cmp.calls.Load(), "every wrong guess must pay a comparison")
}

func TestVerify_ComparerErrorIsFalseAndNotCached(t *testing.T) {
	cmp := &countingComparer{failErr: fmt.Errorf("bad hash")}
	v := secrets.New(cmp, cmp, nil, 10)
	assert.False(t, v.Verify(fh("2a", "04", "x"), "x"))
	assert.False(t, v.Verify(fh("2a", "04", "x"), "x"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_CacheDisabled(t *testing.T) {
	cmp := &countingComparer{}
	v := secrets.New(cmp, cmp, nil, 0)
	require.True(t, v.Verify(fh("2a", "04", "x"), "x"))
	require.True(t, v.Verify(fh("2a", "04", "x"), "x"))
	assert.EqualValues(t, 2, cmp.calls.Load())
}

func TestVerify_CacheEvictsWithinBound(t *testing.T) {
	const size = 8
	cmp := &countingComparer{}
	v := secrets.New(cmp, cmp, nil, size)

	const n = 100
	for i := range n {
		s := fmt.Sprint("s", i)
		require.True(t, v.Verify(fh("2a", "04", s), s))
		require.Equal(t, min(i+1, size), secrets.CacheLen(v), "cache size after %d inserts", i+1)
	}
	require.EqualValues(t, n, cmp.calls.Load())

	// The newest pair is always cached: eviction makes room before inserting.
	require.True(t, v.Verify(fh("2a", "04", "s99"), "s99"))
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
	v := secrets.New(cmp, cmp, nil, 10)

	const n = 20
	var ready, done sync.WaitGroup
	ready.Add(n)
	results := make([]bool, n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			results[i] = v.Verify(fh("2a", "04", "x"), "x")
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
	assert.Equal(t, 1, secrets.CacheLen(v))
}

func TestFake_ComparesAgainstFakeHash(t *testing.T) {
	cmp := &countingComparer{}
	fake := fh("2a", "04", "antitiming")
	v := secrets.New(cmp, nil, []byte(fake), 10)

	v.Fake("guess")
	v.Fake("antitiming") // even the fake's own plaintext must not be cached
	v.Fake("antitiming")
	assert.EqualValues(t, 3, cmp.calls.Load())
	assert.Equal(t, []string{fake, fake, fake}, cmp.hashes)
	assert.Equal(t, 0, secrets.CacheLen(v))
}

func TestFake_RealBcryptCostsAComparison(t *testing.T) {
	v := secrets.New(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, []byte(argon2idHash(t, "antitiming")), 10)
	v.Fake("anything") // must not panic; argon2id fake hash routed to argon2id
}

func TestFake_WithoutFakeHashIsHarmless(t *testing.T) {
	cmp := &countingComparer{}
	v := secrets.New(cmp, cmp, nil, 10)
	v.Fake("x")
	assert.Zero(t, cmp.calls.Load())
}

// An unknown id must cost what a known one costs with the hashes actually in use,
// so once Verify has seen a real hash, Fake compares against it rather than
// against a fake hash of another cost.
func TestFake_MirrorsTheHashesInUse(t *testing.T) {
	cmp := &countingComparer{}
	fake, real := fh("2a", "14", "antitiming"), fh("2b", "04", "secret")
	v := secrets.New(cmp, cmp, []byte(fake), 10)

	v.Fake("guess")
	require.True(t, v.Verify(real, "secret"))
	v.Fake("guess")
	require.True(t, v.Verify(real, "secret")) // cached: no comparison
	v.Fake("secret")                          // the answer is discarded and never cached
	assert.Equal(t, []string{fake, real, real, real}, cmp.hashes)
	assert.Equal(t, 1, secrets.CacheLen(v))
}

// Caddy's argon2id comparer misbehaves on a hash whose key part is empty (it
// matches or panics), and panics on t=0; Verify must refuse such hashes before
// comparing, whichever backend stored them.
func TestVerify_RefusesHashesFailingCheckHash(t *testing.T) {
	v := secrets.New(caddyauth.BcryptHash{}, caddyauth.Argon2idHash{}, nil, 10)
	emptyKey := "$argon2id$v=19$m=64,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$"
	assert.False(t, v.Verify(emptyKey, "anything"))
	assert.False(t, v.Verify("$argon2id$v=19$m=64,t=0,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg", "x"))
}
