package e2e_test

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/caddy-oauth2/caddy-oauth2/internal/testdb"
)

// The fault drills run Caddy under refresh and client_credentials load
// while its database fails, and check what DESIGN.md §6a promises: answers
// within db_timeout (503 with Retry-After, never a hang, never a 500), a
// quick recovery, no 200-answered successor ever refused, and no family
// revoked by a client's timeout (refresh_token_reuse_interval is set, so a
// retry of a rotation whose COMMIT was on its way gets the same successor).
// They never touch the shared database servers: PostgreSQL runs as a
// private cluster on its own port and data directory.

const (
	drillDBTimeout     = 2 * time.Second
	drillClientTimeout = time.Second // shorter than the faults, as impatient clients are
	drillChains        = 6
)

// privatePostgres is a PostgreSQL cluster of the test's own.
type privatePostgres struct {
	bin, dir, data string
	port           int
}

// startPrivatePostgres initialises and starts a cluster in a fresh
// directory, as the postgres user (PostgreSQL refuses to run as root). It is
// skipped when PostgreSQL is not installed, unless the PostgreSQL tests are
// enabled, when it must be.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		if os.Getenv(testdb.PostgresEnv) != "" {
			t.Fatal("PostgreSQL tests are enabled but no /usr/lib/postgresql/*/bin/postgres is installed")
		}
		t.Skip("no PostgreSQL installed: the drill needs a private cluster")
	}
	dir, err := os.MkdirTemp("", "oauth2-drill-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	runAs(t, "chown", "postgres", dir)
	pg := &privatePostgres{bin: filepath.Dir(bins[0]), dir: dir, data: filepath.Join(dir, "data"), port: freePort(t)}
	runAs(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "initdb"), "-D", pg.data, "-A", "trust", "-U", "postgres", "--no-sync")
	pg.start(t)
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "stop", "-m", "immediate").Run()
	})
	db, err := dbsql.Open("pgx", pg.dsn("postgres"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(t.Context(), "CREATE DATABASE oauth2")
	require.NoError(t, err)
	return pg
}

func runAs(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

func freePort(t *testing.T) int {
	_, port, err := net.SplitHostPort(freeAddr(t))
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return n
}

func (pg *privatePostgres) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// start starts the server with pg_ctl, which returns once it accepts
// connections; the server runs detached, its log in the cluster's directory.
func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", pg.port, pg.dir)
	runAs(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data,
		"-l", filepath.Join(pg.dir, "log"), "-o", opts, "-w", "-t", "30", "start")
}

// stop shuts the cluster down fast, as a restart by the operator does.
func (pg *privatePostgres) stop(t *testing.T) {
	t.Helper()
	runAs(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "-w", "-t", "30", "-m", "fast", "stop")
}

// crash stops the cluster as a crash does: no backend says goodbye, so
// the connections in Caddy's pool learn of it only when they are used.
func (pg *privatePostgres) crash(t *testing.T) {
	t.Helper()
	runAs(t, "runuser", "-u", "postgres", "--", filepath.Join(pg.bin, "pg_ctl"), "-D", pg.data, "-w", "-t", "30", "-m", "immediate", "stop")
}

// signal sends sig to the postmaster and every backend: SIGSTOP freezes
// the whole server, as a stalled VM or disk does, and SIGCONT thaws it.
func (pg *privatePostgres) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	pidFile, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid"))
	require.NoError(t, err)
	root, err := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
	require.NoError(t, err)
	for _, pid := range append(descendants(root), root) {
		_ = syscall.Kill(pid, sig)
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command, which is in parentheses.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 {
			if ppid, err := strconv.Atoi(fields[1]); err == nil {
				children[ppid] = append(children[ppid], p)
			}
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// drillRecord is one request of the drill.
type drillRecord struct {
	start   time.Time
	took    time.Duration
	outcome string // "200", "503", "400 invalid_grant", "timeout", ...
	kind    string // "refresh", "client_credentials"
	retryOf bool   // a retry of a request that got no answer
}

// drillLoad runs impatient clients against addr until stop is closed:
// refresh chains that retry the same token after a timeout or a 503, as a
// client does, and client_credentials requests.
type drillLoad struct {
	addr    string
	mu      sync.Mutex
	records []drillRecord
	// refused are 200-answered successors later refused, and families
	// revoked under a client's retry: both must stay empty.
	refused []string
}

func (d *drillLoad) record(r drillRecord) {
	d.mu.Lock()
	d.records = append(d.records, r)
	d.mu.Unlock()
}

func (d *drillLoad) run(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range drillChains {
		wg.Go(func() { d.chain(i, stop, newDrillClient(d.addr), "refresh") })
	}
	wg.Go(func() {
		patient := newTokenClient(d.addr, true)
		patient.http.Timeout = 10 * drillDBTimeout
		d.chain(drillChains, stop, patient, "patient refresh")
	})
	// A patient client measures how long the server makes a request wait
	// when the database does not answer: never much past db_timeout.
	patient := newTokenClient(d.addr, true)
	patient.http.Timeout = 10 * drillDBTimeout
	wg.Go(func() { d.clientCredentials(stop, patient, "patient", 50*time.Millisecond) })
	wg.Go(func() { d.clientCredentials(stop, newDrillClient(d.addr), "client_credentials", 10*time.Millisecond) })
	return &wg
}

// clientCredentials sends client_credentials requests, pause apart, until
// stop is closed.
func (d *drillLoad) clientCredentials(stop <-chan struct{}, client *tokenClient, kind string, pause time.Duration) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		a, err := client.post(context.Background(), url.Values{"grant_type": {"client_credentials"}})
		d.record(drillRecord{start: start, took: time.Since(start), outcome: drillOutcome(a, err), kind: kind})
		time.Sleep(pause)
	}
}

// chain refreshes one token in a loop. After a timeout or a 503 it presents
// the same token again, as a client that never got its answer does.
func (d *drillLoad) chain(i int, stop <-chan struct{}, client *tokenClient, kind string) {
	token := ""
	retry := false
	for {
		select {
		case <-stop:
			return
		default:
		}
		if token == "" {
			a, err := client.post(context.Background(), url.Values{"grant_type": {"password"},
				"username": {carolUser}, "password": {carolPassword}, "scope": {"read"}})
			if err == nil && a.status == http.StatusOK {
				token = a.str("refresh_token")
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		start := time.Now()
		a, err := client.post(context.Background(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
		outcome := drillOutcome(a, err)
		d.record(drillRecord{start: start, took: time.Since(start), outcome: outcome, kind: kind})
		switch {
		case outcome == "200":
			token, retry = a.str("refresh_token"), false
		case outcome == "400 invalid_grant":
			d.mu.Lock()
			d.refused = append(d.refused, fmt.Sprintf("chain %d at %s (retry of a lost answer: %v)", i, start.Format("15:04:05.000"), retry))
			d.mu.Unlock()
			token, retry = "", false
		default:
			retry = true
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func newDrillClient(addr string) *tokenClient {
	c := newTokenClient(addr, true)
	c.http.Timeout = drillClientTimeout
	return c
}

func drillOutcome(a tokenAnswer, err error) string {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case err != nil:
		return "error"
	}
	return answerSummary(a)
}

// drillPhase summarises the requests that started within [from, to).
type drillPhase struct {
	name     string
	from, to time.Time
}

func (d *drillLoad) report(t *testing.T, phases []drillPhase) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range phases {
		outcomes := map[string]int{}
		var maxTook time.Duration
		for _, r := range d.records {
			if r.start.Before(p.from) || !r.start.Before(p.to) {
				continue
			}
			outcomes[r.kind+" "+r.outcome]++
			maxTook = max(maxTook, r.took)
		}
		t.Logf("%-22s %5.1fs  max latency %-8s answers %v", p.name, p.to.Sub(p.from).Seconds(), maxTook.Round(time.Millisecond), outcomes)
	}
}

// longestPatientWait is the longest a patient client waited for an answer.
func (d *drillLoad) longestPatientWait() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	var longest time.Duration
	for _, r := range d.records {
		if strings.HasPrefix(r.kind, "patient") {
			longest = max(longest, r.took)
		}
	}
	return longest
}

// recovery is how long after at every refresh chain had a 200 again.
func (d *drillLoad) recovery(at time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first time.Time
	for _, r := range d.records {
		if r.kind == "refresh" && r.outcome == "200" && !r.start.Before(at) {
			end := r.start.Add(r.took)
			if first.IsZero() || end.Before(first) {
				first = end
			}
		}
	}
	if first.IsZero() {
		return -1
	}
	return first.Sub(at)
}

func (d *drillLoad) outcomes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, r := range d.records {
		if !slices.Contains(out, r.outcome) {
			out = append(out, r.outcome)
		}
	}
	return out
}

// startDrillCaddy starts Caddy on a database of driver at dsn, with the
// drills' settings, and returns its address.
func startDrillCaddy(t *testing.T, driver, dsn string) string {
	t.Helper()
	bin := buildCaddy(t)
	addr := freeAddr(t)
	caddyfile := writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
}

http://%s {
	bind 127.0.0.1
	oauth2_server {
		issuer http://drill.test
		grants password refresh_token client_credentials
		refresh_token_reuse_interval 30s
		db_timeout %s
		throttle off
		repository sql %s %s
	}
}
`, addr, drillDBTimeout, driver, caddyfileQuote(dsn)))
	startCaddy(t, bin, caddyfile, t.TempDir(), addr).waitReady(t)
	return addr
}

func TestDrill_PostgresFrozenAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("a 25 s fault drill")
	}
	pg := startPrivatePostgres(t)
	dsn := pg.dsn("oauth2")
	seedStore(t, "postgres", dsn)
	addr := startDrillCaddy(t, "postgres", dsn)

	load := &drillLoad{addr: addr}
	stop := make(chan struct{})
	wg := load.run(stop)
	mark := func(d time.Duration) time.Time { time.Sleep(d); return time.Now() }

	t0 := time.Now()
	frozenAt := mark(2 * time.Second)
	pg.signal(t, syscall.SIGSTOP)
	thawedAt := mark(4 * time.Second)
	pg.signal(t, syscall.SIGCONT)
	stoppedAt := mark(3 * time.Second)
	pg.stop(t)
	startedAt := mark(3 * time.Second)
	pg.start(t)
	endAt := mark(5 * time.Second)
	close(stop)
	wg.Wait()

	load.report(t, []drillPhase{
		{"before", t0, frozenAt}, {"frozen (SIGSTOP)", frozenAt, thawedAt}, {"thawed", thawedAt, stoppedAt},
		{"stopped", stoppedAt, startedAt}, {"started (coming up, then up)", startedAt, endAt},
	})
	thawRecovery, restartRecovery := load.recovery(thawedAt), load.recovery(startedAt)
	t.Logf("recovery: %s after the thaw, %s after the restart", thawRecovery.Round(time.Millisecond), restartRecovery.Round(time.Millisecond))

	longest := load.longestPatientWait()
	t.Logf("longest wait of a patient client: %s (db_timeout %s)", longest.Round(time.Millisecond), drillDBTimeout)
	assert.Less(t, longest, drillDBTimeout+time.Second, "no request waits much past db_timeout")
	assert.Empty(t, load.refused, "no 200-answered successor refused, no family revoked by a client's retry")
	assert.NotContains(t, load.outcomes(), "500 server_error", "an outage is 503, never 500")
	assert.Contains(t, load.outcomes(), "503 temporarily_unavailable", "the faults were seen")
	assert.Positive(t, thawRecovery)
	assert.Less(t, thawRecovery, drillDBTimeout+3*time.Second)
	assert.Positive(t, restartRecovery)
	assert.Less(t, restartRecovery, drillDBTimeout+3*time.Second)
}

// TestDrill_PostgresRestartedWhileIdle restarts the database while Caddy is
// quiet, so every connection in its pool is stale when traffic comes back:
// those are found and replaced, and no request is refused for them.
func TestDrill_PostgresRestartedWhileIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("a fault drill")
	}
	pg := startPrivatePostgres(t)
	dsn := pg.dsn("oauth2")
	seedStore(t, "postgres", dsn)
	addr := startDrillCaddy(t, "postgres", dsn)

	const parallel = 8 // enough to leave several connections in the pool
	burst := func() []string {
		outcomes := make([]string, parallel)
		var wg sync.WaitGroup
		for i := range parallel {
			wg.Go(func() {
				a, err := newTokenClient(addr, false).post(t.Context(), url.Values{"grant_type": {"client_credentials"}})
				outcomes[i] = drillOutcome(a, err)
			})
		}
		wg.Wait()
		return outcomes
	}
	for _, o := range burst() {
		require.Equal(t, "200", o)
	}
	for _, stop := range []func(*testing.T){pg.stop, pg.crash} {
		stop(t)
		pg.start(t)
		assert.Equal(t, slices.Repeat([]string{"200"}, parallel), burst(), "stale pooled connections are replaced, not answered 503")
	}
}

func TestDrill_SQLiteLockedByAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10 s fault drill")
	}
	path := filepath.Join(t.TempDir(), "oauth2.db")
	seedStore(t, "sqlite", path)
	addr := startDrillCaddy(t, "sqlite", path)

	// This test process is the other process: it takes SQLite's write lock
	// and holds it, as a backup or a stuck maintenance job would.
	// It waits for the lock like any writer: under load, Caddy holds it
	// for a moment at a time.
	other, err := dbsql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()

	load := &drillLoad{addr: addr}
	stop := make(chan struct{})
	wg := load.run(stop)
	mark := func(d time.Duration) time.Time { time.Sleep(d); return time.Now() }
	t0 := time.Now()
	lockedAt := mark(2 * time.Second)
	_, err = conn.ExecContext(t.Context(), "BEGIN IMMEDIATE")
	require.NoError(t, err)
	releasedAt := mark(4 * time.Second)
	_, err = conn.ExecContext(t.Context(), "ROLLBACK")
	require.NoError(t, err)
	endAt := mark(3 * time.Second)
	close(stop)
	wg.Wait()

	load.report(t, []drillPhase{{"before", t0, lockedAt}, {"write-locked", lockedAt, releasedAt}, {"released", releasedAt, endAt}})
	recovered := load.recovery(releasedAt)
	longest := load.longestPatientWait()
	t.Logf("recovery %s after the lock was released; longest wait of a patient client %s (db_timeout %s)",
		recovered.Round(time.Millisecond), longest.Round(time.Millisecond), drillDBTimeout)
	assert.Empty(t, load.refused, "no 200-answered successor refused, no family revoked by a client's retry")
	assert.NotContains(t, load.outcomes(), "500 server_error")
	assert.Less(t, longest, drillDBTimeout+time.Second, "no request waits much past db_timeout")
	assert.Positive(t, recovered)
	assert.Less(t, recovered, drillDBTimeout+3*time.Second)
}

// TestDrill_SQLiteDiskFull fills the file system the token database is on,
// a tmpfs of 64 MiB mounted for the test, then frees it.
func TestDrill_SQLiteDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("a 9 s fault drill")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): the drill needs root", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "oauth2.db")
	seedStore(t, "sqlite", path)
	addr := startDrillCaddy(t, "sqlite", path)

	load := &drillLoad{addr: addr}
	stop := make(chan struct{})
	wg := load.run(stop)
	mark := func(d time.Duration) time.Time { time.Sleep(d); return time.Now() }
	filler := filepath.Join(dir, "filler")
	t0 := time.Now()
	fullAt := mark(2 * time.Second)
	// dd stops with an error when the file system is full: that is the point.
	_ = exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=64k").Run()
	freedAt := mark(3 * time.Second)
	require.NoError(t, os.Remove(filler))
	endAt := mark(4 * time.Second)
	close(stop)
	wg.Wait()

	load.report(t, []drillPhase{{"before", t0, fullAt}, {"disk full", fullAt, freedAt}, {"freed", freedAt, endAt}})
	recovered := load.recovery(freedAt)
	t.Logf("recovery %s after the disk was freed; longest wait of a patient client %s",
		recovered.Round(time.Millisecond), load.longestPatientWait().Round(time.Millisecond))
	assert.Empty(t, load.refused, "no 200-answered successor refused, no family revoked by a client's retry")
	assert.NotContains(t, load.outcomes(), "500 server_error", "a full disk is 503, never 500")
	assert.Less(t, load.longestPatientWait(), drillDBTimeout+time.Second)
	assert.Positive(t, recovered)
	assert.Less(t, recovered, drillDBTimeout+3*time.Second)
}
