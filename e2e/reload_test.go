package e2e_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/internal/testdb"
)

// The reload test checks the promise of the UsagePool in ../repository.go: a
// config reload neither drops requests nor leaks database connections. Caddy
// provisions the new config before it stops the old one, so without the pool
// every reload would open a pool of its own; with it, the new config shares
// the old one's and the process keeps its connections. The test counts them
// in pg_stat_activity by an application_name that only this process uses.
//
// One kind of connection error is Caddy's, not the handler's, and the test
// allows it: on a reload the old server's net/http Shutdown closes idle
// kept-alive connections, and drops a request it reads after the shutdown
// began without answering it (golang/go#23829, golang/go#75591). The client
// sees EOF or a reset for a request that no handler saw; a plain `respond`
// route loses requests the same way. What the handler must guarantee is that
// such a request was not processed: retrying a refresh whose connection was
// dropped must succeed, where a processed one would be a replay.

const (
	// reloads is how many times the test reloads caddy under load.
	reloads = 20
	// Load goroutines: client_credentials requests, and refresh-token chains
	// that each keep rotating their own token.
	reloadClientCredentialsWorkers = 2
	reloadChainWorkers             = 3
	// reloadWarmUpRequests is how many answers each load goroutine must have
	// had before the baseline is measured.
	reloadWarmUpRequests = 30
	// reloadSettle is how long the connection count is watched under load,
	// and how long it may take to fall back once the load stops.
	reloadSettle = 1500 * time.Millisecond
	// reloadDropGrace is how long after a reload returned a connection it
	// dropped may show: Caddy shuts the old server down in the background.
	reloadDropGrace = time.Second
	// reloadMaxRetries bounds how often a chain retries a dropped refresh.
	reloadMaxRetries = 5
	// reloadMaxDropsLogged bounds the dropped requests the log spells out.
	reloadMaxDropsLogged = 5
)

// reloadTTLs alternate as access_token_ttl, one per config, so that each
// reload really changes the handler and a probe can tell which config answers.
var reloadTTLs = []time.Duration{10 * time.Minute, 20 * time.Minute}

func TestReload_UnderLoadKeepsRequestsAndConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("reload test: builds and runs the caddy binary")
	}
	appName := "oauth2-reload-" + strings.ToLower(rand.Text()[:10])
	dsn := testdb.WithPostgresParam(testdb.New(t, "postgres"), "application_name", appName)
	admin := testdb.Admin(t, "postgres")
	seedStore(t, "postgres", dsn)
	bin := buildCaddy(t)

	addr, adminAddr := freeAddr(t), freeAddr(t)
	home := t.TempDir()
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	writeConfig := func(version int) {
		t.Helper()
		require.NoError(t, os.WriteFile(caddyfile, []byte(reloadCaddyfile(adminAddr, addr, dsn, version)), 0o600))
	}
	writeConfig(0)
	p := startCaddy(t, bin, caddyfile, home, addr)
	p.waitReady(t)
	connections := func() int {
		t.Helper()
		return postgresConnections(t, admin, appName)
	}
	// The probe is part of the load whose connections are counted: the
	// reload loop makes it after every reload.
	probe := func(version int) func() {
		return func() { assertConfigVersion(t, addr, version) }
	}

	load := startReloadLoad(t, addr)
	load.waitWarm(t, reloadWarmUpRequests)
	baseline := steadyConnections(t, connections, probe(0))
	t.Logf("connections of %s under load before the reloads: %d to %d", appName, baseline.min, baseline.max)
	require.Positive(t, baseline.min, "the count sees this process's connections")

	started := time.Now()
	during := connectionRange{min: math.MaxInt}
	var windows []reloadWindow
	for version := 1; version <= reloads; version++ {
		writeConfig(version)
		w := reloadWindow{start: time.Now()}
		reloadCaddy(t, bin, caddyfile, adminAddr, home)
		w.end = time.Now()
		windows = append(windows, w)
		probe(version)()
		during.add(connections())
	}
	t.Logf("%d reloads in %s; connections right after each: %d to %d",
		reloads, time.Since(started).Round(time.Millisecond), during.min, during.max)

	after := watchConnections(t, connections, probe(reloads), reloadSettle)
	t.Logf("connections under load after the reloads: %d to %d", after.min, after.max)
	results := load.stop()
	t.Logf("load: %s", results)
	for i, d := range results.dropped {
		if i == reloadMaxDropsLogged {
			t.Logf("  and %d more", len(results.dropped)-i)
			break
		}
		t.Logf("  dropped: %s", d)
	}

	assert.Empty(t, results.refused, "every answer during the reloads was a 200")
	for _, d := range results.dropped {
		assert.True(t, d.during(windows), "a connection was dropped outside any reload: %s", d)
	}
	for i, chain := range results.chains {
		final := refreshAt(t, addr, chain)
		assert.Equal(t, http.StatusOK, final.status, "refresh chain %d is still valid after %d reloads: %s", i, reloads, answerSummary(final))
	}
	assert.LessOrEqual(t, during.max, baseline.max, "no reload opened connections beyond the pool the load had filled")
	assert.LessOrEqual(t, after.max, baseline.max, "the reloads left no pool behind")
	settled := pollConnections(t, connections, func(n int) bool { return n <= baseline.max }, reloadSettle)
	assert.LessOrEqual(t, settled, baseline.max, "once the load stops, the count is within its baseline")

	// Stopped the way a service manager stops it, caddy closes the pool; and
	// whatever the way, no connection outlives the process.
	p.stop(t)
	gone := pollConnections(t, connections, func(n int) bool { return n == 0 }, 10*time.Second)
	assert.Zero(t, gone, "the stopped process left no connection open")
}

// reloadWindow is when one `caddy reload` ran.
type reloadWindow struct{ start, end time.Time }

// reloadCaddyfile is the config of one version: the versions differ in the
// access-token lifetime and in what /config answers.
func reloadCaddyfile(adminAddr, addr, dsn string, version int) string {
	return fmt.Sprintf(`{
	admin %s
}

http://%s {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		grants password refresh_token client_credentials
		access_token_ttl %s
		repository sql postgres %s
	}
	respond /config "%d" 200
}
`, adminAddr, addr, reloadTTLs[version%len(reloadTTLs)], caddyfileQuote(dsn), version)
}

// reloadCaddy runs `caddy reload`, as an operator does after editing the
// Caddyfile. It returns once the admin API has applied the new config.
func reloadCaddy(t *testing.T, bin, caddyfile, adminAddr, home string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "reload", "--config", caddyfile, "--adapter", "caddyfile", "--address", adminAddr)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "caddy reload:\n%s", out)
}

// assertConfigVersion checks that the reloaded config answers: /config gives
// its version, and a fresh access token has its lifetime, so the token handler
// too was provisioned anew.
func assertConfigVersion(t *testing.T, addr string, version int) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/config")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, fmt.Sprint(version), string(body), "caddy reload returned before the config applied")

	issued := postToken(t, addr, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, issued.status, "client_credentials: %s", answerSummary(issued))
	ttl := reloadTTLs[version%len(reloadTTLs)]
	assert.EqualValues(t, ttl.Seconds(), issued.body["expires_in"], "config %d's access_token_ttl applies", version)
}

// postgresConnections counts the server's connections whose application_name
// is appName.
func postgresConnections(t *testing.T, admin *sql.DB, appName string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var n int
	require.NoError(t, admin.QueryRowContext(ctx,
		`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n))
	return n
}

// connectionRange is the least and the most connections seen.
type connectionRange struct{ min, max int }

func (r *connectionRange) add(n int) {
	r.min, r.max = min(r.min, n), max(r.max, n)
}

// watchConnections runs probe and samples count for d, and returns the range
// it saw.
func watchConnections(t *testing.T, count func() int, probe func(), d time.Duration) connectionRange {
	t.Helper()
	n := count()
	r := connectionRange{min: n, max: n}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		probe()
		time.Sleep(20 * time.Millisecond)
		r.add(count())
	}
	return r
}

// steadyConnections watches count until a window of reloadSettle sees no
// more connections than the one before, and returns that window's range. The
// pool opens a connection only when the load finds every one busy, and keeps
// it; once it stops growing, it holds what this load makes it open.
func steadyConnections(t *testing.T, count func() int, probe func()) connectionRange {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := watchConnections(t, count, probe, reloadSettle)
	for {
		r := watchConnections(t, count, probe, reloadSettle)
		if r.max <= last.max {
			r.max = last.max
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection count kept growing under steady load: %d to %d", r.min, r.max)
		}
		last = r
	}
}

// pollConnections samples count until done accepts it or d has passed, and
// returns the last count.
func pollConnections(t *testing.T, count func() int, done func(int) bool, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := count()
		if done(n) || time.Now().After(deadline) {
			return n
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// reloadLoad is steady token traffic from a few goroutines, each on a
// kept-alive connection of its own, as long-running OAuth clients send it.
type reloadLoad struct {
	addr    string
	done    chan struct{}
	wg      sync.WaitGroup
	answers []atomic.Int64 // answers so far, per goroutine

	mu       sync.Mutex
	results  loadResults
	chainsAt []string // each chain's current refresh token
}

// loadResults is what the load saw.
type loadResults struct {
	requests int
	byGrant  map[string]int
	refused  []string         // answers other than a 200: each one a failure
	dropped  []droppedRequest // requests that got no answer
	retried  int              // refreshes sent again after a drop
	chains   []string         // each chain's last refresh token
}

func (r loadResults) String() string {
	return fmt.Sprintf("%d requests %v: %d answers other than 200, %d dropped connections (retried %d refreshes)",
		r.requests, r.byGrant, len(r.refused), len(r.dropped), r.retried)
}

// droppedRequest is a request that got a connection error instead of an answer.
type droppedRequest struct {
	at    time.Time
	grant string
	err   error
}

func (d droppedRequest) String() string {
	return fmt.Sprintf("%s at %s: %v", d.grant, d.at.Format("15:04:05.000"), d.err)
}

// during reports whether d happened while a reload ran, or shortly after.
func (d droppedRequest) during(windows []reloadWindow) bool {
	for _, w := range windows {
		if !d.at.Before(w.start) && !d.at.After(w.end.Add(reloadDropGrace)) {
			return true
		}
	}
	return false
}

// startReloadLoad starts the load on addr; stop ends it.
func startReloadLoad(t *testing.T, addr string) *reloadLoad {
	t.Helper()
	workers := reloadClientCredentialsWorkers + reloadChainWorkers
	l := &reloadLoad{
		addr:     addr,
		done:     make(chan struct{}),
		answers:  make([]atomic.Int64, workers),
		results:  loadResults{byGrant: map[string]int{}},
		chainsAt: make([]string, reloadChainWorkers),
	}
	// The chains start from a password grant made here, so a failure to get
	// one is the test's, not the load's.
	for i := range l.chainsAt {
		l.chainsAt[i] = passwordGrantAt(t, addr).str("refresh_token")
	}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if w < reloadClientCredentialsWorkers {
				l.runClientCredentials(t.Context(), w)
			} else {
				l.runChain(t.Context(), w, w-reloadClientCredentialsWorkers)
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// runClientCredentials asks for service tokens until the load stops.
func (l *reloadLoad) runClientCredentials(ctx context.Context, worker int) {
	client := newTokenClient(l.addr, true)
	defer client.http.CloseIdleConnections()
	form := url.Values{"grant_type": {"client_credentials"}}
	for !l.stopped() {
		answer, err := client.post(ctx, form)
		l.record(worker, "client_credentials", answer, err)
	}
}

// runChain keeps rotating one refresh token, always presenting the successor
// of the last rotation, until the load stops or the chain breaks. A refresh
// whose connection was dropped is sent again with the same token, on a new
// connection, as a client that knows its token was not consumed would: if
// the server had in fact rotated it, the retry is a replay and fails.
func (l *reloadLoad) runChain(ctx context.Context, worker, chain int) {
	client := newTokenClient(l.addr, true)
	defer client.http.CloseIdleConnections()
	for !l.stopped() {
		l.mu.Lock()
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {l.chainsAt[chain]}}
		l.mu.Unlock()
		answer, err := client.post(ctx, form)
		for retries := 0; err != nil && retries < reloadMaxRetries && ctx.Err() == nil; retries++ {
			l.record(worker, "refresh_token", answer, err)
			l.mu.Lock()
			l.results.retried++
			l.mu.Unlock()
			answer, err = newTokenClient(l.addr, false).post(ctx, form)
		}
		if !l.record(worker, "refresh_token", answer, err) {
			return
		}
		l.mu.Lock()
		l.chainsAt[chain] = answer.str("refresh_token")
		l.mu.Unlock()
	}
}

func (l *reloadLoad) stopped() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// record counts one request and reports whether it got a 200 with an access
// token, and with a refresh token for a refresh.
func (l *reloadLoad) record(worker int, grant string, answer tokenAnswer, err error) bool {
	ok := err == nil && answer.status == http.StatusOK && answer.str("access_token") != "" &&
		(grant != "refresh_token" || answer.str("refresh_token") != "")
	l.answers[worker].Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results.requests++
	l.results.byGrant[grant]++
	switch {
	case ok:
	case err != nil:
		l.results.dropped = append(l.results.dropped, droppedRequest{at: time.Now(), grant: grant, err: err})
	default:
		l.results.refused = append(l.results.refused, fmt.Sprintf("%s at %s: %s (%s)",
			grant, time.Now().Format("15:04:05.000"), answerSummary(answer), answer.str("error_description")))
	}
	return ok
}

// waitWarm waits until every load goroutine has had n answers.
func (l *reloadLoad) waitWarm(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := range l.answers {
		for l.answers[i].Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("load goroutine %d had %d answers within 30 s, want %d", i, l.answers[i].Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// stop ends the load, waits for its requests in flight, and returns what it
// saw. It may be called more than once.
func (l *reloadLoad) stop() loadResults {
	l.mu.Lock()
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results.chains = append([]string(nil), l.chainsAt...)
	return l.results
}
