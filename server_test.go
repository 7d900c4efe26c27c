package caddyoauth2

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// loadServer loads config as Caddy loads an oauth2_server handler.
func loadServer(tb testing.TB, config ServerHandler) (*ServerHandler, error) {
	tb.Helper()
	raw, err := json.Marshal(config)
	require.NoError(tb, err)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.handlers.oauth2_server", raw)
	if err != nil {
		return nil, err
	}
	return mod.(*ServerHandler), nil
}

// provisionedServer is provisionedHandler's configuration as an
// oauth2_server, with the changes applied.
func provisionedServer(tb testing.TB, changes ...func(*ServerHandler)) *ServerHandler {
	tb.Helper()
	config := ServerHandler{TokenHandler: handlerConfig(tb)}
	for _, change := range changes {
		change(&config)
	}
	h, err := loadServer(tb, config)
	require.NoError(tb, err)
	return h
}

// nextHandler records that the request was passed on.
type nextHandler struct{ called bool }

func (n *nextHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	n.called = true
	w.WriteHeader(http.StatusTeapot)
	return nil
}

func serve(h *ServerHandler, r *http.Request) (*httptest.ResponseRecorder, bool) {
	w := httptest.NewRecorder()
	next := new(nextHandler)
	if err := h.ServeHTTP(w, r, next); err != nil {
		panic(err)
	}
	return w, next.called
}

func TestServer_PassesOtherPathsOn(t *testing.T) {
	h := provisionedServer(t)
	for _, path := range []string{"/", "/index.html", "/oauth", "/oauth/", "/oauth/token/", "/oauth/tokens", "/OAUTH/token",
		"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/x", "/jwks.json"} {
		w, passed := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test"+path, nil))
		assert.True(t, passed, path)
		assert.Equal(t, http.StatusTeapot, w.Code, path)
	}
}

func TestServer_AnswersTheTokenEndpoint(t *testing.T) {
	h := provisionedServer(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	r := httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("bench", "bench-secret")
	w, passed := serve(h, r)
	assert.False(t, passed)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())

	// The token verifies with the published key set.
	var resp tokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
	claims, err := tokens.VerifyAccessToken(resp.AccessToken, time.Now(), h.keys.Current().Verifier)
	require.NoError(t, err)
	assert.Equal(t, "bench", claims.ClientID)

	w, _ = serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/oauth/token", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))
}

func TestServer_BasePath(t *testing.T) {
	h := provisionedServer(t, func(s *ServerHandler) { s.BasePath = "/auth/v1" })
	w, passed := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/auth/v1/jwks.json", nil))
	assert.False(t, passed)
	assert.Equal(t, http.StatusOK, w.Code)
	_, passed = serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/oauth/jwks.json", nil))
	assert.True(t, passed, "the default base no longer answers")
}

// jwksOf fetches and decodes the key set.
func jwksOf(t *testing.T, h *ServerHandler) []map[string]string {
	t.Helper()
	w, _ := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/oauth/jwks.json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	return doc.Keys
}

func TestServer_KeySet(t *testing.T) {
	h := provisionedServer(t)
	w, _ := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/oauth/jwks.json", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	keys := jwksOf(t, h)
	require.Len(t, keys, 1)
	assert.Equal(t, h.keys.Signer().KeyID(), keys[0]["kid"])

	head, _ := serve(h, httptest.NewRequest(http.MethodHead, "http://auth.test/oauth/jwks.json", nil))
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Empty(t, head.Body.Bytes())
	assert.Equal(t, w.Header().Get("Content-Length"), head.Header().Get("Content-Length"))

	post, _ := serve(h, httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/jwks.json", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, post.Code)
	assert.Equal(t, "GET, HEAD", post.Header().Get("Allow"))
}

// TestServer_KeySetHasNoPrivateMember loads a key file of each type, with a
// verification key beside it, and checks every member the key set holds.
func TestServer_KeySetHasNoPrivateMember(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	public := map[string][]string{
		"RS256": {"alg", "e", "kid", "kty", "n", "use"},
		"ES256": {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"EdDSA": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for alg, key := range map[string]any{"RS256": rsaKey, "ES256": ecKey, "EdDSA": edKey} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			keyPath := writePEM(t, dir, "key.pem", "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key)))
			// A private key named as a verification key: only its public half
			// may be published.
			otherKey, err := tokens.GenerateKey()
			require.NoError(t, err)
			otherPath := writePEM(t, dir, "next.pem", "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(otherKey)))

			h := provisionedServer(t, func(s *ServerHandler) {
				s.PrivateKey = keyPath
				s.VerificationKeys = []string{otherPath}
			})
			keys := jwksOf(t, h)
			require.Len(t, keys, 2)
			assert.Equal(t, public[alg], slices.Sorted(maps.Keys(keys[0])))
			assert.Equal(t, alg, keys[0]["alg"])
			assert.Equal(t, public["ES256"], slices.Sorted(maps.Keys(keys[1])))
			for _, k := range keys {
				assert.Equal(t, "sig", k["use"])
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
					assert.NotContains(t, k, private)
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

// metadataOf fetches and decodes the metadata from a request to host.
func metadataOf(t *testing.T, h *ServerHandler, target string) map[string]any {
	t.Helper()
	w, passed := serve(h, httptest.NewRequest(http.MethodGet, target, nil))
	require.False(t, passed)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))
	var md map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &md))
	return md
}

func TestServer_Metadata(t *testing.T) {
	h := provisionedServer(t, func(s *ServerHandler) {
		s.Issuer = "https://auth.example.com"
		s.BasePath = "/o"
	})
	md := metadataOf(t, h, "http://internal:8080/.well-known/oauth-authorization-server")
	want := map[string]any{
		"issuer":                                        "https://auth.example.com",
		"token_endpoint":                                "https://auth.example.com/o/token",
		"jwks_uri":                                      "https://auth.example.com/o/jwks.json",
		"revocation_endpoint":                           "https://auth.example.com/o/revoke",
		"introspection_endpoint":                        "https://auth.example.com/o/introspect",
		"grant_types_supported":                         []any{"password", "refresh_token", "client_credentials"},
		"response_types_supported":                      []any{},
		"scopes_supported":                              []any{"read", "write"},
		"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
	}
	assert.Equal(t, want, md)

	head, _ := serve(h, httptest.NewRequest(http.MethodHead, "http://x/.well-known/oauth-authorization-server", nil))
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Empty(t, head.Body.Bytes())
}

func TestServer_MetadataOfAnIssuerWithAPath(t *testing.T) {
	h := provisionedServer(t, func(s *ServerHandler) { s.Issuer = "https://example.com/tenant-a" })
	md := metadataOf(t, h, "https://example.com/.well-known/oauth-authorization-server/tenant-a")
	assert.Equal(t, "https://example.com/tenant-a", md["issuer"])
	assert.Equal(t, "https://example.com/oauth/token", md["token_endpoint"], "endpoints hang off the issuer's origin")
	_, passed := serve(h, httptest.NewRequest(http.MethodGet, "https://example.com/.well-known/oauth-authorization-server", nil))
	assert.True(t, passed, "RFC 8414 §3 puts the issuer's path after the well-known one")
}

func TestServer_MetadataFromTheRequestOrigin(t *testing.T) {
	h := provisionedServer(t)
	md := metadataOf(t, h, "http://localhost:8080/.well-known/oauth-authorization-server")
	assert.Equal(t, "http://localhost:8080", md["issuer"])
	assert.Equal(t, "http://localhost:8080/oauth/token", md["token_endpoint"])

	// Every host name gets its own document, but the cache keeps few.
	for i := range 2 * maxMetadataOrigins {
		host := "h" + strings.Repeat("x", i) + ".test"
		md := metadataOf(t, h, "http://"+host+"/.well-known/oauth-authorization-server")
		assert.Equal(t, "http://"+host, md["issuer"])
	}
	assert.LessOrEqual(t, len(*h.metadata.docs.Load()), maxMetadataOrigins)
}

func TestServer_MetadataListsNoneWithPublicClients(t *testing.T) {
	dir := t.TempDir()
	defs := filepath.Join(dir, "defs.json")
	require.NoError(t, os.WriteFile(defs, []byte(`{"clients":[{"id":"spa"}]}`), 0o600))
	h := provisionedServer(t, func(s *ServerHandler) {
		s.RepositoryRaw = json.RawMessage(`{"backend":"file","path":"` + defs + `","tokens":{"driver":"sqlite","dsn":"` +
			filepath.Join(dir, "t.db") + `"}}`)
	})
	md := metadataOf(t, h, "http://x/.well-known/oauth-authorization-server")
	assert.Equal(t, []any{"client_secret_basic", "client_secret_post", "none"}, md["token_endpoint_auth_methods_supported"])
	assert.Equal(t, []any{"client_secret_basic", "client_secret_post"}, md["introspection_endpoint_auth_methods_supported"])
	assert.Equal(t, []any{}, md["scopes_supported"])
}

func TestServer_ProvisionErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		change func(*ServerHandler)
		want   string
	}{
		{"key_rotation with a key file", func(s *ServerHandler) { s.KeyRotation = caddy.Duration(24 * time.Hour) },
			"key_rotation: applies to generated keys only"},
		{"key_rotation off with a key file", func(s *ServerHandler) { s.KeyRotation = -1 }, "key_rotation: applies to generated keys only"},
		{"key_rotation too short", func(s *ServerHandler) { s.PrivateKey, s.KeyRotation = "", caddy.Duration(time.Hour) },
			"key_rotation: must be at least 2h0m0s"},
		{"base_path relative", func(s *ServerHandler) { s.BasePath = "oauth" }, "base_path: "},
		{"base_path trailing slash", func(s *ServerHandler) { s.BasePath = "/oauth/" }, "base_path: "},
		{"base_path dots", func(s *ServerHandler) { s.BasePath = "/a/../b" }, "base_path: "},
		{"issuer with a query", func(s *ServerHandler) { s.Issuer = "https://a.example?x=1" }, "issuer: "},
		{"issuer not a URL", func(s *ServerHandler) { s.Issuer = "auth.example.com" }, "issuer: "},
		{"missing verification key", func(s *ServerHandler) { s.VerificationKeys = []string{filepath.Join(dir, "nope.pem")} },
			"verification_key: "},
		{"verification key not a key", func(s *ServerHandler) {
			garbage := filepath.Join(dir, "garbage.pem")
			require.NoError(t, os.WriteFile(garbage, []byte("garbage"), 0o600))
			s.VerificationKeys = []string{garbage}
		}, "verification_key: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := ServerHandler{TokenHandler: handlerConfig(t)}
			tt.change(&config)
			_, err := loadServer(t, config)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Interface guard: the test's next handler is a Caddy handler.
var _ caddyhttp.Handler = (*nextHandler)(nil)
