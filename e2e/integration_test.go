package e2e_test

import (
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/caddy-oauth2/caddy-oauth2"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// The integration tests run one real Caddy (caddytest starts it in-process and
// loads config through its admin API) and speak HTTP to it.

const (
	webSecret     = "s3c r+t/%&=" // needs form-encoding in HTTP Basic
	alicePassword = "p@ss w+rd"
)

// server is the running Caddy shared by the integration tests.
type server struct {
	tc         *caddytest.Tester
	client     *http.Client
	tokenURL   string // all grants enabled
	defaultURL string // grants left at their default
	publicKey  *ecdsa.PublicKey
}

var (
	setupOnce sync.Once
	shared    *server
	setupErr  error
)

// startServer starts Caddy once for the package: every test reads and writes
// only its own tokens, so sharing it is safe and saves seconds per test.
func startServer(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	setupOnce.Do(func() { shared, setupErr = newServer(t) })
	require.NoError(t, setupErr)
	shared.tc = caddytest.NewTester(t) // the Tester is per test; the server keeps running
	return shared
}

func newServer(t *testing.T) (*server, error) {
	dir, err := os.MkdirTemp("", "caddy-oauth2-it-")
	if err != nil {
		return nil, err
	}
	key, err := tokens.GenerateKey()
	if err != nil {
		return nil, err
	}
	pemData, err := tokens.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(keyPath, pemData, 0o600); err != nil {
		return nil, err
	}
	defsPath := filepath.Join(dir, "definitions.json")
	if err := os.WriteFile(defsPath, []byte(testDefinitions()), 0o600); err != nil {
		return nil, err
	}

	config := fmt.Sprintf(`{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	storage file_system %[1]s/storage
}
http://localhost:9080 {
	# The suite sends hundreds of wrong secrets from one address to check
	# every answer of the token endpoint; lockouts have tests of their own.
	oauth2_token /oauth/token {
		private_key %[2]s
		encryption_key %[3]s
		grants password refresh_token client_credentials
		throttle {
			failures 100000
			ip_failures 100000
		}
		repository file %[4]s {
			tokens sql sqlite %[1]s/tokens.db
		}
	}
	oauth2_token /default/token {
		private_key %[2]s
		encryption_key %[3]s
		throttle {
			failures 100000
			ip_failures 100000
		}
		repository file %[4]s {
			tokens sql sqlite %[1]s/tokens.db
		}
	}
	respond "static" 200
}
`, dir, keyPath, testEncryptionKey, defsPath)
	tc := caddytest.NewTester(t)
	tc.InitServer(config, "caddyfile")
	return &server{
		tc:         tc,
		client:     &http.Client{Timeout: 30 * time.Second},
		tokenURL:   "http://localhost:9080/oauth/token",
		defaultURL: "http://localhost:9080/default/token",
		publicKey:  key.Public().(*ecdsa.PublicKey),
	}, nil
}

func hash(t testing.TB, secret string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}

func testDefinitions() string {
	defs := map[string]any{
		"scopes": []map[string]string{{"id": "read"}, {"id": "write"}, {"id": "admin"}},
		"clients": []map[string]any{
			{"id": "web", "secret_hash": hash(nil, webSecret), "grants": []string{"password", "refresh_token", "client_credentials"}, "scopes": []string{"read", "write"}},
			{"id": "other", "secret_hash": hash(nil, "other-secret"), "grants": []string{"password", "refresh_token"}},
			{"id": "svc", "secret_hash": hash(nil, "svc-secret"), "grants": []string{"client_credentials"}, "scopes": []string{"read", "admin"}, "default_scope": []string{"read"}},
			{"id": "pub", "grants": []string{"password", "refresh_token"}, "scopes": []string{"read", "write"}},
			{"id": "pubany"},
			{"id": "norefresh", "secret_hash": hash(nil, "nr-secret"), "grants": []string{"password"}},
		},
		"users": []map[string]any{
			{"id": "u-alice", "username": "alice", "password_hash": hash(nil, alicePassword), "scopes": []string{"read", "write"}},
			{"id": "u-bob", "username": "bob", "password_hash": hash(nil, "bob-pw"), "scopes": []string{"read"}},
		},
	}
	data, err := json.Marshal(defs)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// credentials says how a request authenticates its client.
type credentials struct {
	id, secret string
	basic      bool
}

func viaBasic(id, secret string) credentials { return credentials{id: id, secret: secret, basic: true} }
func viaBody(id, secret string) credentials  { return credentials{id: id, secret: secret} }

// reply is a decoded token endpoint answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (r reply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// post sends a token request the way RFC 6749 clients do: HTTP Basic with the
// id and secret form-encoded first (section 2.3.1), or both in the body.
func (s *server) post(t *testing.T, endpoint string, creds credentials, params url.Values) reply {
	t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if !creds.basic {
		if creds.id != "" {
			form.Set("client_id", creds.id)
		}
		if creds.secret != "" {
			form.Set("client_secret", creds.secret)
		}
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if creds.basic {
		req.SetBasicAuth(url.QueryEscape(creds.id), url.QueryEscape(creds.secret))
	}
	return s.do(t, req)
}

func (s *server) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := reply{status: resp.StatusCode, header: resp.Header}
	require.NoError(t, json.Unmarshal(data, &r.body), "every answer is JSON, got %q", data)
	// DESIGN.md section 5: every response, success or error, is uncacheable JSON.
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", resp.Header.Get("Pragma"))
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
	if r.status != http.StatusOK {
		assert.NotEmpty(t, r.str("error"))
		assert.NotEmpty(t, r.str("error_description"))
	}
	return r
}

func params(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// passwordGrant obtains tokens for alice through client web.
func (s *server) passwordGrant(t *testing.T, creds credentials, scope string) reply {
	t.Helper()
	r := s.post(t, s.tokenURL, creds, params("grant_type", "password", "username", "alice", "password", alicePassword, "scope", scope))
	require.Equal(t, http.StatusOK, r.status, "password grant: %v", r.body)
	return r
}

func (s *server) refresh(t *testing.T, creds credentials, refreshToken, scope string) reply {
	t.Helper()
	return s.post(t, s.tokenURL, creds, params("grant_type", "refresh_token", "refresh_token", refreshToken, "scope", scope))
}

// claims verifies an access token with the server's public key and returns its
// header and claims.
func (s *server) claims(t *testing.T, accessToken string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(accessToken, claims, func(*jwt.Token) (any, error) { return s.publicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}))
	require.NoError(t, err)
	return tok.Header, claims
}

func TestTokenEndpoint_ErrorTable(t *testing.T) {
	s := startServer(t)
	web := []credentials{viaBasic("web", webSecret), viaBody("web", webSecret)}

	// A refresh token of client web, and one of client other, for the refresh rows.
	webRT := s.passwordGrant(t, web[0], "read write").str("refresh_token")
	otherRT := s.passwordGrant(t, viaBody("other", "other-secret"), "").str("refresh_token")
	sealer, err := tokens.NewSealer([]byte(testEncryptionKey))
	require.NoError(t, err)
	expiredRT, err := sealer.Seal(tokens.RefreshPayload{ID: tokens.NewID(), FamilyID: tokens.NewID(), ClientID: "web",
		UserID: "u-alice", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(-time.Minute).Truncate(time.Second)})
	require.NoError(t, err)
	unknownRT, err := sealer.Seal(tokens.RefreshPayload{ID: tokens.NewID(), FamilyID: tokens.NewID(), ClientID: "web",
		UserID: "u-alice", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second)})
	require.NoError(t, err)

	tests := []struct {
		name       string
		endpoint   string // default s.tokenURL
		creds      []credentials
		params     url.Values
		wantStatus int
		wantError  string
	}{
		{"grant_type unknown", "", web, params("grant_type", "implicit"), 400, "unsupported_grant_type"},
		{"grant_type in wrong case", "", web, params("grant_type", "PASSWORD"), 400, "unsupported_grant_type"},
		{"grant not enabled (password is off by default)", "default", web, params("grant_type", "password", "username", "alice", "password", alicePassword), 400, "unsupported_grant_type"},
		{"unknown client", "", []credentials{viaBasic("nobody", "x"), viaBody("nobody", "x")}, params("grant_type", "client_credentials"), 401, "invalid_client"},
		{"confidential client without secret", "", []credentials{viaBasic("web", ""), viaBody("web", "")}, params("grant_type", "client_credentials"), 401, "invalid_client"},
		{"wrong secret", "", []credentials{viaBasic("web", "wrong"), viaBody("web", "wrong")}, params("grant_type", "client_credentials"), 401, "invalid_client"},
		{"secret not form-decoded is wrong", "", []credentials{viaBasic("web", url.QueryEscape(webSecret))}, params("grant_type", "client_credentials"), 401, "invalid_client"},
		{"client not allowed this grant", "", []credentials{viaBasic("svc", "svc-secret"), viaBody("svc", "svc-secret")}, params("grant_type", "password", "username", "alice", "password", alicePassword), 400, "unauthorized_client"},
		{"public client on client_credentials", "", []credentials{viaBody("pubany", "")}, params("grant_type", "client_credentials"), 401, "invalid_client"},
		{"wrong secret before bad scope", "", []credentials{viaBody("web", "wrong")}, params("grant_type", "client_credentials", "scope", "nope"), 401, "invalid_client"},
		{"refresh_token missing", "", web, params("grant_type", "refresh_token"), 400, "invalid_request"},
		{"refresh_token undecryptable", "", web, params("grant_type", "refresh_token", "refresh_token", "garbage"), 400, "invalid_grant"},
		{"refresh_token tampered", "", web, params("grant_type", "refresh_token", "refresh_token", flipLast(webRT)), 400, "invalid_grant"},
		{"refresh_token of another client", "", web, params("grant_type", "refresh_token", "refresh_token", otherRT), 400, "invalid_grant"},
		{"refresh_token expired", "", web, params("grant_type", "refresh_token", "refresh_token", expiredRT), 400, "invalid_grant"},
		{"refresh_token unknown to the database", "", web, params("grant_type", "refresh_token", "refresh_token", unknownRT), 400, "invalid_grant"},
		{"refresh scope wider than granted", "", web, params("grant_type", "refresh_token", "refresh_token", webRT, "scope", "read admin"), 400, "invalid_scope"},
		{"refresh scope unknown", "", web, params("grant_type", "refresh_token", "refresh_token", webRT, "scope", "nonsense"), 400, "invalid_scope"},
		{"password: username missing", "", web, params("grant_type", "password", "password", alicePassword), 400, "invalid_request"},
		{"password: password missing", "", web, params("grant_type", "password", "username", "alice"), 400, "invalid_request"},
		{"password: wrong password", "", web, params("grant_type", "password", "username", "alice", "password", "nope"), 400, "invalid_grant"},
		{"password: unknown user", "", web, params("grant_type", "password", "username", "mallory", "password", "nope"), 400, "invalid_grant"},
		{"scope unknown", "", web, params("grant_type", "client_credentials", "scope", "nonsense"), 400, "invalid_scope"},
		{"scope not allowed for the client", "", web, params("grant_type", "client_credentials", "scope", "admin"), 400, "invalid_scope"},
		{"scope not allowed for the user", "", web, params("grant_type", "password", "username", "bob", "password", "bob-pw", "scope", "write"), 400, "invalid_scope"},
		{"scope with a forbidden character", "", web, params("grant_type", "client_credentials", "scope", `read "x"`), 400, "invalid_scope"},
	}
	for _, tt := range tests {
		for _, creds := range tt.creds {
			method := "body"
			if creds.basic {
				method = "basic"
			}
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				endpoint := s.tokenURL
				if tt.endpoint == "default" {
					endpoint = s.defaultURL
				}
				r := s.post(t, endpoint, creds, tt.params)
				assert.Equal(t, tt.wantStatus, r.status, "%v", r.body)
				assert.Equal(t, tt.wantError, r.str("error"), "%v", r.body)
				if tt.wantError == "invalid_client" && creds.basic {
					assert.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm="))
				} else {
					assert.Empty(t, r.header.Get("WWW-Authenticate"))
				}
			})
		}
	}

	// None of the refused refreshes above consumed web's token.
	assert.Equal(t, http.StatusOK, s.refresh(t, web[0], webRT, "").status)
}

// flipLast changes the last character of a token, breaking its seal.
func flipLast(token string) string {
	last := token[len(token)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return token[:len(token)-1] + string(repl)
}

func TestTokenEndpoint_RequestErrors(t *testing.T) {
	s := startServer(t)
	newReq := func(method, contentType, body string) *http.Request {
		req, err := http.NewRequest(method, s.tokenURL, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return req
	}
	basicHeader := func(req *http.Request, value string) *http.Request {
		req.Header.Set("Authorization", value)
		return req
	}
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantError  string
		wantHeader [2]string
	}{
		{"GET", newReq(http.MethodGet, "", ""), 405, "invalid_request", [2]string{"Allow", "POST"}},
		{"PUT", newReq(http.MethodPut, form, "grant_type=client_credentials"), 405, "invalid_request", [2]string{"Allow", "POST"}},
		{"JSON body", newReq(http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`), 400, "invalid_request", [2]string{}},
		{"unparsable body", newReq(http.MethodPost, form, "grant_type=%zz"), 400, "invalid_request", [2]string{}},
		{"body over 64 KiB", newReq(http.MethodPost, form, "grant_type=client_credentials&pad="+strings.Repeat("x", 65<<10)), 413, "invalid_request", [2]string{}},
		{"grant_type twice", newReq(http.MethodPost, form, "grant_type=client_credentials&grant_type=client_credentials&client_id=svc&client_secret=svc-secret"), 400, "invalid_request", [2]string{}},
		{"grant_type missing", newReq(http.MethodPost, form, "client_id=svc&client_secret=svc-secret"), 400, "invalid_request", [2]string{}},
		{"grant_type empty", newReq(http.MethodPost, form, "grant_type=&client_id=svc&client_secret=svc-secret"), 400, "invalid_request", [2]string{}},
		{"secret in Basic and body", basicHeader(newReq(http.MethodPost, form, "grant_type=client_credentials&client_secret=svc-secret"), basicValue("svc", "svc-secret")), 400, "invalid_request", [2]string{}},
		{"body client_id differs from Basic", basicHeader(newReq(http.MethodPost, form, "grant_type=client_credentials&client_id=web"), basicValue("svc", "svc-secret")), 400, "invalid_request", [2]string{}},
		{"no client id", newReq(http.MethodPost, form, "grant_type=client_credentials"), 401, "invalid_client", [2]string{"WWW-Authenticate", ""}},
		{"malformed Basic header", basicHeader(newReq(http.MethodPost, form, "grant_type=client_credentials"), "Basic not-base64!"), 401, "invalid_client", [2]string{"WWW-Authenticate", `Basic realm="OAuth"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.req)
			assert.Equal(t, tt.wantStatus, r.status, "%v", r.body)
			assert.Equal(t, tt.wantError, r.str("error"))
			if tt.wantHeader[0] != "" {
				assert.Equal(t, tt.wantHeader[1], r.header.Get(tt.wantHeader[0]))
			}
		})
	}
}

func basicValue(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header.Get("Authorization")
}

func TestPasswordGrant_IssuesRFC9068AccessTokenAndRefreshToken(t *testing.T) {
	s := startServer(t)
	for _, creds := range []credentials{viaBasic("web", webSecret), viaBody("web", webSecret)} {
		r := s.passwordGrant(t, creds, "read write")
		assert.Equal(t, "Bearer", r.str("token_type"))
		assert.EqualValues(t, 3600, r.body["expires_in"])
		assert.Equal(t, "read write", r.str("scope"))
		assert.NotEmpty(t, r.str("refresh_token"))

		header, claims := s.claims(t, r.str("access_token"))
		assert.Equal(t, "at+jwt", header["typ"])
		assert.NotEmpty(t, header["kid"])
		assert.Equal(t, "http://localhost:9080", claims["iss"])
		assert.Equal(t, "u-alice", claims["sub"])
		assert.Equal(t, "web", claims["aud"])
		assert.Equal(t, "web", claims["client_id"])
		assert.Equal(t, "read write", claims["scope"])
		assert.NotEmpty(t, claims["jti"])
		for _, c := range []string{"iat", "nbf", "exp"} {
			v, ok := claims[c].(float64)
			require.True(t, ok, c)
			assert.Equal(t, float64(int64(v)), v, "%s must be an integer", c)
		}
		assert.EqualValues(t, 3600, claims["exp"].(float64)-claims["iat"].(float64))
	}
}

func TestPasswordGrant_PublicClientAndDefaults(t *testing.T) {
	s := startServer(t)
	r := s.post(t, s.tokenURL, viaBody("pub", ""), params("grant_type", "password", "username", "bob", "password", "bob-pw"))
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	assert.Equal(t, "", r.str("scope"), "no scope asked, no default configured: none granted")
	assert.Contains(t, r.body, "scope", "scope is always present")
	assert.NotEmpty(t, r.str("refresh_token"))

	r = s.post(t, s.tokenURL, viaBody("norefresh", "nr-secret"), params("grant_type", "password", "username", "alice", "password", alicePassword))
	require.Equal(t, http.StatusOK, r.status, "%v", r.body)
	assert.NotContains(t, r.body, "refresh_token", "a client not allowed refresh_token gets none")
}

func TestClientCredentialsGrant_NoRefreshTokenAndClientSubject(t *testing.T) {
	s := startServer(t)
	for _, creds := range []credentials{viaBasic("svc", "svc-secret"), viaBody("svc", "svc-secret")} {
		r := s.post(t, s.defaultURL, creds, params("grant_type", "client_credentials"))
		require.Equal(t, http.StatusOK, r.status, "%v", r.body)
		assert.NotContains(t, r.body, "refresh_token")
		assert.Equal(t, "read", r.str("scope"), "the client's default_scope")
		_, claims := s.claims(t, r.str("access_token"))
		assert.Equal(t, "svc", claims["sub"])
	}
}

func TestRefresh_RotatesAndNarrowsOnlyTheAccessToken(t *testing.T) {
	s := startServer(t)
	web := viaBasic("web", webSecret)
	first := s.passwordGrant(t, web, "read write")

	narrowed := s.refresh(t, web, first.str("refresh_token"), "read")
	require.Equal(t, http.StatusOK, narrowed.status, "%v", narrowed.body)
	assert.Equal(t, "read", narrowed.str("scope"))
	assert.NotEqual(t, first.str("refresh_token"), narrowed.str("refresh_token"), "a refresh returns a successor")

	// The successor keeps the scope originally granted (RFC 6749 section 6).
	next := s.refresh(t, viaBody("web", webSecret), narrowed.str("refresh_token"), "")
	require.Equal(t, http.StatusOK, next.status, "%v", next.body)
	assert.Equal(t, "read write", next.str("scope"))
}

func TestRefresh_ReplayRevokesFamily(t *testing.T) {
	s := startServer(t)
	web := viaBody("web", webSecret)
	first := s.passwordGrant(t, web, "read")
	second := s.refresh(t, web, first.str("refresh_token"), "")
	require.Equal(t, http.StatusOK, second.status)

	replay := s.refresh(t, web, first.str("refresh_token"), "")
	assert.Equal(t, http.StatusBadRequest, replay.status)
	assert.Equal(t, "invalid_grant", replay.str("error"))

	// The successor the legitimate client (or the thief) holds is revoked too.
	after := s.refresh(t, web, second.str("refresh_token"), "")
	assert.Equal(t, http.StatusBadRequest, after.status)
	assert.Equal(t, "invalid_grant", after.str("error"))
}

func TestRefresh_ConcurrentUseSucceedsOnce(t *testing.T) {
	s := startServer(t)
	web := viaBasic("web", webSecret)
	rt := s.passwordGrant(t, web, "read").str("refresh_token")

	const n = 50
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses <- s.refresh(t, web, rt, "").status
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	assert.Equal(t, 1, count[http.StatusOK], "exactly one of %d concurrent refreshes succeeds: %v", n, count)
	assert.Equal(t, n-1, count[http.StatusBadRequest], "%v", count)
}

func TestTokenEndpoint_OtherRoutesUntouched(t *testing.T) {
	s := startServer(t)
	s.tc.AssertGetResponse("http://localhost:9080/", http.StatusOK, "static")
}
