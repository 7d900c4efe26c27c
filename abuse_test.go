package caddyoauth2

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// skipUnlessTimingCounts skips a test that measures time or throughput
// where the measure means nothing: under the race detector, or with -short.
// .ci/run runs these tests in a step of their own, without the race
// detector and with no other package's tests beside them.
func skipUnlessTimingCounts(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("measures timing and throughput for seconds")
	}
	if raceDetector {
		t.Skip("measures timing and throughput: run without -race (.ci/run has a step for it)")
	}
}

// abuseHandler provisions a handler over definitions with the given client
// and user hashes, throttling off (the attacks below rotate addresses, as a
// botnet would), and with changes applied.
func abuseHandler(t *testing.T, clients, users []map[string]any, changes ...func(*TokenHandler)) *TokenHandler {
	t.Helper()
	dir := t.TempDir()
	defs, err := json.Marshal(map[string]any{"scopes": []map[string]string{{"id": "read"}}, "clients": clients, "users": users})
	require.NoError(t, err)
	defsPath := filepath.Join(dir, "defs.json")
	require.NoError(t, os.WriteFile(defsPath, defs, 0o600))
	repo, err := json.Marshal(map[string]any{"backend": "file", "path": defsPath,
		"tokens": map[string]string{"driver": "sqlite", "dsn": filepath.Join(dir, "tokens.db")}})
	require.NoError(t, err)
	config := TokenHandler{
		PrivateKey:    writeKeyFile(t, dir),
		EncryptionKey: strings.Repeat("k", 32),
		Grants:        []string{"password", "refresh_token", "client_credentials"},
		Throttle:      &ThrottleConfig{Off: true},
		RepositoryRaw: repo,
	}
	for _, change := range changes {
		change(&config)
	}
	h, err := loadHandler(t, config)
	require.NoError(t, err)
	return h
}

func hashAt(t *testing.T, secret string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
	require.NoError(t, err)
	return string(h)
}

// tokenFrom sends a token request as client id with secret from addr.
func tokenFrom(h *TokenHandler, addr, id, secret string, form url.Values) int {
	r := httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(id, secret)
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	_ = h.ServeHTTP(w, r, nil)
	return w.Code
}

// With users hashed at cost 10 and the client at cost 14, an unknown
// username must be refused in about the time a known one with a wrong
// password is: the fake check mirrors the users' hashes, not the client's
// that was hashed last. Unknown usernames go first, as right after a start.
func TestTiming_UnknownAndKnownUsernamesAlike(t *testing.T) {
	skipUnlessTimingCounts(t)
	h := abuseHandler(t,
		[]map[string]any{{"id": "web", "secret_hash": hashAt(t, "web-secret", 14)}},
		[]map[string]any{{"id": "u-1", "username": "alice", "password_hash": hashAt(t, "alice-pw", 10)}})
	attempt := func(username string) time.Duration {
		start := time.Now()
		code := tokenFrom(h, "192.0.2.1:1", "web", "web-secret",
			url.Values{"grant_type": {"password"}, "username": {username}, "password": {"wrong"}})
		require.Equal(t, http.StatusBadRequest, code)
		return time.Since(start)
	}
	attempt("nobody-warms-the-client") // the client's cost-14 check, once; then remembered

	const n = 9
	var unknown, known []time.Duration
	for i := range n {
		unknown = append(unknown, attempt(fmt.Sprint("nobody-", i)))
		known = append(known, attempt("alice"))
	}
	mu, mk := medianOf(unknown), medianOf(known)
	t.Logf("median refusal: unknown username %s, known username %s", mu, mk)
	ratio := float64(mu) / float64(mk)
	assert.InDelta(t, 1, ratio, 0.2, "unknown %s vs known %s", mu, mk)
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// The security review's first two rows: attackers sending wrong secrets (for
// an argon2id client, 46 MiB per check with Caddy's defaults, and a bcrypt
// one) and unknown client ids, from ever new addresses, must leave a client
// whose secret is remembered at least half of its undisturbed throughput,
// and the process under 500 MB.
func TestAbuse_AttackersLeaveRememberedClientsTheirThroughput(t *testing.T) {
	skipUnlessTimingCounts(t)
	// Caddy's argon2id defaults: t=1, m=46 MiB, p=1.
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("victim-secret"), salt, 1, 47104, 1, 32)
	argon := fmt.Sprintf("$argon2id$v=%d$m=47104,t=1,p=1$%s$%s", argon2.Version,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	h := abuseHandler(t, []map[string]any{
		{"id": "legit", "secret_hash": hashAt(t, "legit-secret", bcrypt.MinCost)},
		{"id": "victim", "secret_hash": argon},
		{"id": "victim-bcrypt", "secret_hash": hashAt(t, "victim-secret", 12)},
	}, nil)
	form := url.Values{"grant_type": {"client_credentials"}}
	require.Equal(t, http.StatusOK, tokenFrom(h, "192.0.2.1:1", "legit", "legit-secret", form))

	legit := func(d time.Duration) float64 {
		var n atomic.Int64
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if tokenFrom(h, "192.0.2.1:1", "legit", "legit-secret", form) == http.StatusOK {
						n.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / d.Seconds()
	}
	undisturbed := legit(2 * time.Second)

	stop := make(chan struct{})
	var attackers sync.WaitGroup
	var answers sync.Map // status -> count
	for i := range 32 {
		attackers.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				addr := fmt.Sprintf("10.%d.%d.%d:1", i, j/256%256, j%256)
				id := []string{"victim", "victim-bcrypt", fmt.Sprint("unknown-", i, "-", j)}[j%3]
				code := tokenFrom(h, addr, id, fmt.Sprint("guess-", i, "-", j), form)
				v, _ := answers.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		})
	}
	var peak atomic.Uint64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.Sys > peak.Load() {
				peak.Store(ms.Sys)
			}
		}
	}()
	time.Sleep(time.Second) // let the attack saturate the hashing slots
	attacked := legit(3 * time.Second)
	close(stop)
	attackers.Wait()
	<-sampled

	statuses := map[int]int64{}
	answers.Range(func(k, v any) bool { statuses[k.(int)] = v.(*atomic.Int64).Load(); return true })
	t.Logf("legit: %.0f req/s undisturbed, %.0f under attack; attackers' answers %v; peak memory %d MiB",
		undisturbed, attacked, statuses, peak.Load()>>20)
	assert.GreaterOrEqual(t, attacked, undisturbed/2, "remembered clients keep at least half their throughput")
	assert.Less(t, peak.Load(), uint64(500<<20), "the process stays under 500 MB")
	assert.Positive(t, statuses[http.StatusTooManyRequests], "attackers were turned away while hashing was busy")
}
