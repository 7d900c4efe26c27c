package caddyoauth2_test

import (
	"bytes"
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// The restart tests run the caddy binary of ./cmd/caddy as a child process: what
// they check (state that survives a crash, instances that share storage) cannot
// be seen from inside one process. Neither test configures private_key or
// encryption_key, so both keys are generated and kept in Caddy's storage.

const (
	restartClient   = "app"
	restartSecret   = "app secret/+%"
	restartUser     = "carol"
	restartPassword = "carol pass+word"

	// readyTimeout bounds how long a child Caddy may take to listen.
	readyTimeout = 60 * time.Second
)

func TestRestart_RefreshTokensSurviveACrash(t *testing.T) {
	bin := buildCaddy(t)
	defs := writeRestartDefinitions(t)
	home := t.TempDir() // Caddy's data dir, hence its storage and the token database
	addr := freeAddr(t)
	caddyfile := writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
}

http://%s {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		grants password refresh_token
		repository file %s
	}
}
`, addr, defs))

	before := startCaddy(t, bin, caddyfile, home, addr)
	before.waitReady(t)
	issued := passwordGrantAt(t, addr)
	before.crash(t)

	after := startCaddy(t, bin, caddyfile, home, addr)
	after.waitReady(t)
	refreshed := refreshAt(t, addr, issued.str("refresh_token"))
	require.Equal(t, http.StatusOK, refreshed.status, "the refresh token issued before the crash is valid after it: %v", refreshed.body)
	assert.Equal(t, accessTokenKID(t, issued), accessTokenKID(t, refreshed),
		"the generated signing key survived the crash")

	replay := refreshAt(t, addr, issued.str("refresh_token"))
	assert.Equal(t, http.StatusBadRequest, replay.status)
	assert.Equal(t, "invalid_grant", replay.str("error"), "the pre-crash token was consumed after the restart: %v", replay.body)
	successor := refreshAt(t, addr, refreshed.str("refresh_token"))
	assert.Equal(t, "invalid_grant", successor.str("error"), "the replay revoked the family: %v", successor.body)
}

func TestRestart_InstancesShareGeneratedKeys(t *testing.T) {
	bin := buildCaddy(t)
	defs := writeRestartDefinitions(t)
	shared := t.TempDir()
	caddyfile := func(addr string) string {
		return writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
	storage file_system %[1]s/storage
}

http://%[2]s {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		grants password refresh_token
		repository file %[3]s {
			tokens sql sqlite %[1]s/tokens.db
		}
	}
}
`, shared, addr, defs))
	}

	// Started together, so both race to generate the keys; each has its own data
	// dir: only the configured storage and database are shared.
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startCaddy(t, bin, caddyfile(addrA), t.TempDir(), addrA)
	b := startCaddy(t, bin, caddyfile(addrB), t.TempDir(), addrB)
	a.waitReady(t)
	b.waitReady(t)

	issued := passwordGrantAt(t, addrA)
	atB := refreshAt(t, addrB, issued.str("refresh_token"))
	require.Equal(t, http.StatusOK, atB.status, "a token issued by A refreshes at B: %v", atB.body)
	atA := refreshAt(t, addrA, atB.str("refresh_token"))
	require.Equal(t, http.StatusOK, atA.status, "and B's successor refreshes at A: %v", atA.body)
	kid := accessTokenKID(t, issued)
	assert.Equal(t, kid, accessTokenKID(t, atB), "B signs with A's key")
	assert.Equal(t, kid, accessTokenKID(t, atA))

	replay := refreshAt(t, addrA, issued.str("refresh_token"))
	assert.Equal(t, "invalid_grant", replay.str("error"), "A knows B consumed the token: %v", replay.body)
}

// buildCaddy builds ./cmd/caddy into a temporary directory. The build cache
// makes this cheap after the first time (about 40 s).
func buildCaddy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the caddy binary")
	}
	caddyBinary.once.Do(func() {
		caddyBinary.dir, caddyBinary.err = os.MkdirTemp("", "caddy-oauth2-bin-")
		if caddyBinary.err != nil {
			return
		}
		caddyBinary.path = filepath.Join(caddyBinary.dir, "caddy")
		caddyBinary.out, caddyBinary.err = exec.Command("go", "build", "-o", caddyBinary.path, "./cmd/caddy").CombinedOutput()
	})
	require.NoError(t, caddyBinary.err, "go build ./cmd/caddy:\n%s", caddyBinary.out)
	return caddyBinary.path
}

// caddyBinary is the caddy that buildCaddy builds once for all the tests
// that run it as a child process; TestMain removes it.
var caddyBinary struct {
	once      sync.Once
	dir, path string
	out       []byte
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if caddyBinary.dir != "" {
		_ = os.RemoveAll(caddyBinary.dir)
	}
	os.Exit(code)
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

// lockedBuffer collects a child's output; exec writes it from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

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

func (a tokenAnswer) str(key string) string {
	s, _ := a.body[key].(string)
	return s
}

func passwordGrantAt(t *testing.T, addr string) tokenAnswer {
	t.Helper()
	a := postToken(t, addr, url.Values{
		"grant_type": {"password"},
		"username":   {restartUser},
		"password":   {restartPassword},
		"scope":      {"read"},
	})
	require.Equal(t, http.StatusOK, a.status, "password grant: %v", a.body)
	require.NotEmpty(t, a.str("refresh_token"))
	return a
}

func refreshAt(t *testing.T, addr, refreshToken string) tokenAnswer {
	t.Helper()
	return postToken(t, addr, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// postToken sends a token request with client authentication in HTTP Basic,
// on a fresh connection: a kept-alive one may belong to a killed process.
func postToken(t *testing.T, addr string, form url.Values) tokenAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/oauth/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(restartClient), url.QueryEscape(restartSecret))
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

func writeRestartDefinitions(t *testing.T) string {
	t.Helper()
	hashOf := func(secret string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
		require.NoError(t, err)
		return string(h)
	}
	data, err := json.Marshal(map[string]any{
		"scopes": []map[string]string{{"id": "read"}},
		"clients": []map[string]any{{
			"id": restartClient, "secret_hash": hashOf(restartSecret), "grants": []string{"password", "refresh_token"},
		}},
		"users": []map[string]any{{
			"id": "u-carol", "username": restartUser, "password_hash": hashOf(restartPassword), "scopes": []string{"read"},
		}},
	})
	require.NoError(t, err)
	return writeFile(t, "definitions.json", string(data))
}

// writeFile writes content to a new file in a fresh temporary directory.
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
