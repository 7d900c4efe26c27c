// Package interop_test checks that JWT libraries other than our own accept the
// access tokens a real caddy-oauth2 issues, given nothing but the JWKS it
// publishes, the way resource servers are set up with them: MicahParks/keyfunc
// with golang-jwt, lestrrat-go/jwx's jwk.Cache (inside the ggicci/caddy-jwt
// Caddy plugin), and Node's jose.
//
// It is a module of its own so that these libraries never reach the plugin's
// go.mod: users who build Caddy with the plugin get none of them.
//
// This file is the harness: the caddy binary and its child process, the
// authorization server's endpoints as a client sees them, and bounded waits.
package interop_test

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

const (
	// caddyBinEnv names a caddy binary with the plugin to use instead of
	// building one; CI sets it to the binary xcaddy built.
	caddyBinEnv = "OAUTH2_TEST_CADDY_BIN"
	// keyLeadEnv shortens, in the caddy process, how long a generated key
	// is published before it signs (an hour otherwise).
	keyLeadEnv = "CADDY_OAUTH2_TEST_KEY_LEAD"

	// readyTimeout bounds how long caddy may take to listen.
	readyTimeout = 60 * time.Second
	// requestTimeout bounds every HTTP request the harness sends.
	requestTimeout = 10 * time.Second
)

// The client the tests get tokens as, with the client_credentials grant.
const (
	clientID     = "svc"
	clientSecret = "svc secret/+%" // characters HTTP Basic must form-encode
	scope        = "read"
	audience     = "https://api.example"
)

// TestMain runs the tests, then removes the caddy binary caddyBinary may have
// built: every test shares it, so no test's cleanup can.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtCaddy.dir != "" {
		_ = os.RemoveAll(builtCaddy.dir)
	}
	os.Exit(code)
}

// builtCaddy is the binary caddyBinary finds or builds once per run.
var builtCaddy struct {
	once      sync.Once
	dir, path string // dir is empty unless the binary was built here
	err       error
}

// caddyBinary returns the path of a caddy with the plugin built in: the one
// OAUTH2_TEST_CADDY_BIN names (a relative path is taken from this directory),
// or else one built from the parent module's ./cmd/caddy, once per run. The
// parent is built in its own directory, with its own go.mod, so this module
// needs no dependency on the plugin at all.
func caddyBinary(t *testing.T) string {
	t.Helper()
	builtCaddy.once.Do(func() {
		if bin := os.Getenv(caddyBinEnv); bin != "" {
			builtCaddy.path, builtCaddy.err = filepath.Abs(bin)
			if builtCaddy.err == nil {
				_, builtCaddy.err = os.Stat(builtCaddy.path)
			}
			if builtCaddy.err != nil {
				builtCaddy.err = fmt.Errorf("%s: %w", caddyBinEnv, builtCaddy.err)
			}
			return
		}
		builtCaddy.dir, builtCaddy.err = os.MkdirTemp("", "caddy-oauth2-interop-")
		if builtCaddy.err != nil {
			return
		}
		builtCaddy.path = filepath.Join(builtCaddy.dir, "caddy")
		build := exec.Command("go", "build", "-o", builtCaddy.path, "./cmd/caddy")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			builtCaddy.err = fmt.Errorf("go build ./cmd/caddy in ..: %w\n%s", err, out)
		}
	})
	require.NoError(t, builtCaddy.err)
	return builtCaddy.path
}

// startCaddy runs `caddy run` on caddyfile with env added to its environment
// and HOME and the XDG directories in a temporary directory, and waits until
// it listens on every one of addrs. Caddy provisions its handlers (keys
// included) before it listens, so then the endpoints are ready. The process
// is killed when the test ends, and its output logged if the test failed.
func startCaddy(t *testing.T, bin, caddyfile string, env []string, addrs ...string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	cmd.Env = append(cmd.Env, env...)
	output := new(lockedBuffer)
	cmd.Stdout, cmd.Stderr = output, output
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("output of caddy on %v:\n%s", addrs, output)
		}
	})

	deadline := time.Now().Add(readyTimeout)
	for _, addr := range addrs {
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				require.NoError(t, conn.Close())
				break
			}
			select {
			case <-exited:
				t.Fatalf("caddy exited before listening on %s: %v", addr, waitErr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("caddy did not listen on %s within %s", addr, readyTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// lockedBuffer collects a child's output, which exec writes from another
// goroutine.
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

// caddyfile returns the path of a new Caddyfile serving sites, with Caddy's
// storage (where generated keys are kept) in a directory of the test's own.
func caddyfile(t *testing.T, sites ...string) string {
	t.Helper()
	config := fmt.Sprintf("{\n\tadmin off\n\tstorage file_system %s\n}\n", t.TempDir())
	return writeFile(t, "Caddyfile", config+strings.Join(sites, ""))
}

// authServer is one oauth2_server site, at http://addr with its default
// endpoint paths, and its own URL as its issuer.
type authServer struct {
	addr string
}

// newAuthServer returns a site on a free 127.0.0.1 port.
func newAuthServer(t *testing.T) authServer {
	t.Helper()
	return authServer{addr: freeAddr(t)}
}

func (s authServer) issuer() string  { return "http://" + s.addr }
func (s authServer) jwksURL() string { return s.issuer() + "/oauth/jwks.json" }

// site returns the site's Caddyfile block: a token endpoint for svc, from
// definitions, with directives (a key and its rotation) added.
func (s authServer) site(definitions string, directives ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nhttp://%s {\n\tbind 127.0.0.1\n\toauth2_server {\n", s.addr)
	fmt.Fprintf(&b, "\t\tissuer %s\n\t\taudience %s\n\t\tgrants client_credentials\n", s.issuer(), audience)
	fmt.Fprintf(&b, "\t\trepository file %s\n", definitions)
	for _, d := range directives {
		fmt.Fprintf(&b, "\t\t%s\n", d)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// expect returns what a resource server of this site checks: its issuer,
// the API audience, and the one algorithm its key signs with.
func (s authServer) expect(alg string) expectation {
	return expectation{issuer: s.issuer(), audience: audience, alg: alg}
}

// token obtains an access token with the client_credentials grant.
func (s authServer) token(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer()+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := getJSON(req, &answer); err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if answer.AccessToken == "" || !strings.EqualFold(answer.TokenType, "Bearer") {
		return "", fmt.Errorf("token request: no bearer access token in the answer: %+v", answer)
	}
	return answer.AccessToken, nil
}

// mustToken is token, failing t on an error.
func (s authServer) mustToken(t *testing.T) string {
	t.Helper()
	token, err := s.token(t.Context())
	require.NoError(t, err)
	return token
}

// kids fetches the published key set and returns its kids, in its order.
func (s authServer) kids(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.jwksURL(), nil)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := getJSON(req, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	kids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids, nil
}

// mustKIDs is kids, failing t on an error.
func (s authServer) mustKIDs(t *testing.T) []string {
	t.Helper()
	kids, err := s.kids(t.Context())
	require.NoError(t, err)
	return kids
}

// getJSON sends req and decodes a 200 answer's JSON body into v.
func getJSON(req *http.Request, v any) error {
	client := &http.Client{Timeout: requestTimeout}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %q", resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// joseHeader is the protected header of a JWS in compact form.
type joseHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// header decodes token's header, without verifying anything: the test reads
// which key signed a token, which a verifier is then asked to check.
func header(t *testing.T, token string) joseHeader {
	t.Helper()
	encoded, _, ok := strings.Cut(token, ".")
	require.True(t, ok, "a JWT has dots: %q", token)
	data, err := base64.RawURLEncoding.DecodeString(encoded)
	require.NoError(t, err)
	var h joseHeader
	require.NoError(t, json.Unmarshal(data, &h))
	return h
}

// tamper returns token with one bit of one signature byte flipped. It flips
// a decoded byte rather than a base64 character, which could land in the
// unused low bits of the last character and change nothing.
func tamper(t *testing.T, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	require.Positive(t, i)
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	require.NoError(t, err)
	require.NotEmpty(t, sig)
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// waitFor polls check every 100 ms until it reports done, failing t if it
// has not within timeout. check also describes what it saw, for the failure
// message; an error from it is a state seen, not a failure: the server may
// be between two states.
func waitFor(t *testing.T, timeout time.Duration, what string, check func(ctx context.Context) (done bool, seen string, err error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, seen, err := check(t.Context())
		if done {
			return
		}
		if err != nil {
			seen = fmt.Sprintf("%s (error: %v)", seen, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last seen: %s", timeout, what, seen)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writeDefinitions writes the definitions file with svc, allowed the
// client_credentials grant and the scope read, and returns its path. The
// hash has bcrypt's lowest cost, so that every token request is cheap.
func writeDefinitions(t *testing.T) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(clientSecret), bcrypt.MinCost)
	require.NoError(t, err)
	data, err := json.Marshal(map[string]any{
		"scopes": []map[string]string{{"id": scope}},
		"clients": []map[string]any{{
			"id": clientID, "secret_hash": string(hash),
			"grants": []string{"client_credentials"}, "scopes": []string{scope},
		}},
	})
	require.NoError(t, err)
	return writeFile(t, "definitions.json", string(data))
}

// writeFile writes content to a new file in a fresh temporary directory and
// returns its path.
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
