// Package e2e_test holds the end-to-end tests: a real Caddy speaking HTTP
// (integration_test.go), and caddy child processes that crash, reload, or
// share a database (restart_test.go, reload_test.go, instances_test.go).
// They build binaries and start servers, and take minutes where the
// packages' own tests take seconds, so they live apart; -short skips them.
//
// This file is their harness: the caddy binary, the child processes, and the
// one client and user that the child processes' tests authenticate as.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

const (
	// caddyBinEnv names a caddy binary with the plugin for buildCaddy to use
	// instead of building one.
	caddyBinEnv = "OAUTH2_TEST_CADDY_BIN"
	// caddyPackage is the command buildCaddy builds. It is named by import
	// path, not directory, so that the build does not depend on the directory
	// go test runs in.
	caddyPackage = "github.com/caddy-oauth2/caddy-oauth2/cmd/caddy"

	// readyTimeout bounds how long a child Caddy may take to listen.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds how long a child Caddy may take to exit once told to.
	stopTimeout = 30 * time.Second
)

// The client and user that the child processes' tests authenticate as, in the
// definitions file of writeDefinitions and the database of seedStore. The
// secret and the password hold characters that HTTP Basic must form-encode.
const (
	appClient     = "app"
	appSecret     = "app secret/+%"
	carolUser     = "carol"
	carolPassword = "carol pass+word"
)

// testEncryptionKey is the refresh-token encryption key of the setups that
// configure one rather than generate it: any instance given it can open the
// refresh tokens of the others.
const testEncryptionKey = "lxZFUEsBCJ2Yb14IF2ygAHI5N4+ZAUXXaSeeJm6+twsUmIen" // league's docs example

// TestMain runs the tests, then removes the caddy binary that buildCaddy may
// have built: it is shared by every test, so no test's cleanup can remove it.
func TestMain(m *testing.M) {
	code := m.Run()
	if caddyBinary.dir != "" {
		_ = os.RemoveAll(caddyBinary.dir)
	}
	os.Exit(code)
}

// caddyBinary is the caddy that buildCaddy finds or builds once for all the
// tests that run it as a child process; TestMain removes it if it was built.
var caddyBinary struct {
	once      sync.Once
	dir, path string // dir is empty unless the binary was built
	err       error
}

// buildCaddy returns the path of a caddy binary with the plugin built in,
// skipping t under -short.
//
// If OAUTH2_TEST_CADDY_BIN is set, it must name an existing executable (a
// relative path is taken from this package's directory, where go test runs
// the tests), and that binary is used: CI builds one with xcaddy, which tests
// the plugin the way users build it. Otherwise
// buildCaddy builds ./cmd/caddy into a temporary directory, once per run; the
// build cache makes that cheap after the first time (about 40 s).
func buildCaddy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the caddy binary")
	}
	caddyBinary.once.Do(func() {
		if bin := os.Getenv(caddyBinEnv); bin != "" {
			caddyBinary.path, caddyBinary.err = existingExecutable(bin)
			if caddyBinary.err != nil {
				caddyBinary.err = fmt.Errorf("%s: %w", caddyBinEnv, caddyBinary.err)
			}
			return
		}
		caddyBinary.dir, caddyBinary.err = os.MkdirTemp("", "caddy-oauth2-bin-")
		if caddyBinary.err != nil {
			return
		}
		caddyBinary.path = filepath.Join(caddyBinary.dir, "caddy")
		if out, err := exec.Command("go", "build", "-o", caddyBinary.path, caddyPackage).CombinedOutput(); err != nil {
			caddyBinary.err = fmt.Errorf("go build %s: %w\n%s", caddyPackage, err, out)
		}
	})
	require.NoError(t, caddyBinary.err)
	return caddyBinary.path
}

// existingExecutable returns the absolute path of bin, or why it is not an
// executable file. The path is made absolute so that exec runs that file and
// never looks a bare name up in PATH, where a caddy without the plugin may be.
func existingExecutable(bin string) (string, error) {
	path, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}

// caddyProcess is a caddy child process.
type caddyProcess struct {
	cmd    *exec.Cmd
	addr   string
	output *lockedBuffer
	exited chan struct{}
	err    error // how it exited; valid once exited is closed
}

// startCaddy runs `caddy run` with HOME and the XDG directories under home, so
// Caddy's data dir (its default storage, and the default token database) is
// private to the test. The process is killed when the test ends, and its output
// is logged if the test failed.
func startCaddy(t *testing.T, bin, caddyfile, home, addr string) *caddyProcess {
	t.Helper()
	p := &caddyProcess{addr: addr, output: new(lockedBuffer), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("output of caddy on %s:\n%s", addr, p.output)
		}
	})
	return p
}

// waitReady waits until Caddy accepts connections. Caddy provisions the handler
// (keys, database) before it listens, so then the token endpoint is ready.
func (p *caddyProcess) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			require.NoError(t, conn.Close())
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("caddy on %s exited before listening: %v", p.addr, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not listen on %s within %s", p.addr, readyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crash kills Caddy with SIGKILL: no shutdown, no cleanup, as in a power cut of
// the process (not of the machine: what the kernel has is kept).
func (p *caddyProcess) crash(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("caddy on %s still running 10 s after SIGKILL", p.addr)
	}
}

// stop stops Caddy the way a service manager does, with SIGINT, so that it
// shuts down and cleans up (closes its database pools, say), and waits for it
// to exit. Where SIGINT cannot be sent, it kills Caddy instead.
func (p *caddyProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		require.NoError(t, p.cmd.Process.Kill(), "no SIGINT here (%v), so kill", err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("caddy on %s did not exit within %s of SIGINT", p.addr, stopTimeout)
	}
}

// lockedBuffer collects a child's output; exec writes it from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tokenAnswer is a decoded token endpoint answer.
type tokenAnswer struct {
	status int
	body   map[string]any
}

// str returns the answer's string member key, or "" if it has none.
func (a tokenAnswer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

// answerSummary describes an answer without the tokens it may carry: its
// status, and the OAuth error of a refusal.
func answerSummary(a tokenAnswer) string {
	if e := a.str("error"); e != "" {
		return fmt.Sprintf("%d %s", a.status, e)
	}
	return strconv.Itoa(a.status)
}

// passwordGrantAt obtains tokens for carol at addr, with a refresh token.
func passwordGrantAt(t *testing.T, addr string) tokenAnswer {
	t.Helper()
	a := postToken(t, addr, url.Values{
		"grant_type": {"password"},
		"username":   {carolUser},
		"password":   {carolPassword},
		"scope":      {"read"},
	})
	require.Equal(t, http.StatusOK, a.status, "password grant: %v", a.body)
	require.NotEmpty(t, a.str("refresh_token"))
	return a
}

// refreshAt presents refreshToken at addr and returns the answer, whatever it is.
func refreshAt(t *testing.T, addr, refreshToken string) tokenAnswer {
	t.Helper()
	return postToken(t, addr, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// postToken sends a token request with client authentication in HTTP Basic,
// on a fresh connection: a kept-alive one may belong to a killed process.
func postToken(t *testing.T, addr string, form url.Values) tokenAnswer {
	t.Helper()
	return postForm(t, addr, "/oauth/token", form)
}

// postForm sends a form to path at addr as appClient, as postToken does.
func postForm(t *testing.T, addr, path string, form url.Values) tokenAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(appClient), url.QueryEscape(appSecret))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := tokenAnswer{status: resp.StatusCode}
	require.NoError(t, json.Unmarshal(data, &a.body), "every answer is JSON, got %q", data)
	return a
}

// tokenClient sends token requests to one caddy without failing the test, so
// that it can be used from goroutines other than the test's.
type tokenClient struct {
	addr string
	http *http.Client
}

// newTokenClient returns a client of the token endpoint at addr. With
// keepAlive, it reuses one connection, as a real OAuth client does; without,
// every request opens its own.
func newTokenClient(addr string, keepAlive bool) *tokenClient {
	transport := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
	return &tokenClient{addr: addr, http: &http.Client{Timeout: 30 * time.Second, Transport: transport}}
}

// post sends a token request authenticated as appClient, like postToken.
// An error is a failure to get a JSON answer, whatever its status.
func (c *tokenClient) post(ctx context.Context, form url.Values) (tokenAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(appClient), url.QueryEscape(appSecret))
	resp, err := c.http.Do(req)
	if err != nil {
		return tokenAnswer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenAnswer{status: resp.StatusCode}, fmt.Errorf("reading the answer: %w", err)
	}
	a := tokenAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(data, &a.body); err != nil {
		return a, fmt.Errorf("status %d with a body that is not JSON: %q", resp.StatusCode, data)
	}
	return a, nil
}

// accessTokenKID returns the kid header of the answer's access token. The kid is
// the key's RFC 7638 thumbprint, so equal kids mean the same signing key.
func accessTokenKID(t *testing.T, a tokenAnswer) string {
	t.Helper()
	header, _, ok := strings.Cut(a.str("access_token"), ".")
	require.True(t, ok, "access token is a JWT: %v", a.body)
	data, err := base64.RawURLEncoding.DecodeString(header)
	require.NoError(t, err)
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	require.NoError(t, json.Unmarshal(data, &h))
	require.Equal(t, "ES256", h.Alg, "a generated key is ES256")
	require.NotEmpty(t, h.Kid)
	return h.Kid
}

// writeDefinitions writes a definitions file with appClient, allowed the
// password and refresh_token grants, carol, and the scope read, and returns its
// path. Hashes have bcrypt's lowest cost so that verifying them is cheap.
func writeDefinitions(t *testing.T) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"scopes": []map[string]string{{"id": "read"}},
		"clients": []map[string]any{{
			"id": appClient, "secret_hash": cheapHash(t, appSecret), "grants": []string{"password", "refresh_token"},
		}},
		"users": []map[string]any{{
			"id": "u-carol", "username": carolUser, "password_hash": cheapHash(t, carolPassword), "scopes": []string{"read"},
		}},
	})
	require.NoError(t, err)
	return writeFile(t, "definitions.json", string(data))
}

// seedStore creates appClient, allowed client_credentials as well, carol and
// the scope read in the database, through the store's management methods,
// then closes it: the caddy processes find them there. It also applies the
// migrations, so the processes start on a migrated schema.
func seedStore(t *testing.T, driver, dsn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	store, err := reposql.Open(ctx, driver, dsn)
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()
	require.NoError(t, store.PutScope(ctx, repos.Scope{ID: "read"}))
	require.NoError(t, store.PutClient(ctx, repos.Client{
		ID:         appClient,
		SecretHash: cheapHash(t, appSecret),
		Grants:     []string{"password", "refresh_token", "client_credentials"},
	}))
	require.NoError(t, store.PutUser(ctx, repos.User{
		ID: "u-carol", Username: carolUser, PasswordHash: cheapHash(t, carolPassword), Scopes: []string{"read"},
	}))
}

// cheapHash hashes secret with bcrypt's lowest cost: the child processes
// verify it on every request, and the tests make thousands.
func cheapHash(t *testing.T, secret string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

// caddyfileQuote makes s one Caddyfile token: a DSN may hold characters
// (spaces in a key=value DSN, say) that would split it.
func caddyfileQuote(s string) string {
	return "`" + s + "`"
}

// writeFile writes content to a new file in a fresh temporary directory, so
// that files of one name (a Caddyfile per process, say) do not collide.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// freeAddr returns a 127.0.0.1 address whose port is free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
