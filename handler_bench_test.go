package caddyoauth2

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// provisionedHandler returns a TokenHandler provisioned as Caddy would, with an
// ES256 key file, a definitions file and SQLite token state in a temp dir.
func provisionedHandler(tb testing.TB) *TokenHandler {
	tb.Helper()
	dir := tb.TempDir()
	keyPath := writeKeyFile(tb, dir)

	hash, err := bcrypt.GenerateFromPassword([]byte("bench-secret"), bcrypt.MinCost)
	require.NoError(tb, err)
	defs, err := json.Marshal(map[string]any{
		"scopes":  []map[string]string{{"id": "read"}, {"id": "write"}},
		"clients": []map[string]any{{"id": "bench", "secret_hash": string(hash)}},
		"users":   []map[string]any{{"id": "u-1", "username": "alice", "password_hash": string(hash)}},
	})
	require.NoError(tb, err)
	defsPath := filepath.Join(dir, "defs.json")
	require.NoError(tb, os.WriteFile(defsPath, defs, 0o600))

	repo, err := json.Marshal(map[string]any{"backend": "file", "path": defsPath,
		"tokens": map[string]string{"driver": "sqlite", "dsn": filepath.Join(dir, "tokens.db")}})
	require.NoError(tb, err)
	h := &TokenHandler{
		PrivateKey:    keyPath,
		EncryptionKey: strings.Repeat("k", 32),
		Grants:        []string{"password", "refresh_token", "client_credentials"},
		RepositoryRaw: repo,
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	require.NoError(tb, h.Provision(ctx))
	require.NoError(tb, h.Validate())
	return h
}

// writeKeyFile writes a fresh ES256 key, mode 0600, into dir and returns its path.
func writeKeyFile(tb testing.TB, dir string) string {
	tb.Helper()
	key, err := tokens.GenerateKey()
	require.NoError(tb, err)
	pemData, err := tokens.MarshalPrivateKey(key)
	require.NoError(tb, err)
	path := filepath.Join(dir, "key.pem")
	require.NoError(tb, os.WriteFile(path, pemData, 0o600))
	return path
}

func post(h *TokenHandler, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("bench", "bench-secret")
	w := httptest.NewRecorder()
	_ = h.ServeHTTP(w, r, nil)
	return w
}

// BenchmarkTokenEndpoint measures the handler from HTTP request to JSON answer,
// without Caddy's server around it (internal/loadtest measures that).
func BenchmarkTokenEndpoint(b *testing.B) {
	h := provisionedHandler(b)

	b.Run("client_credentials", func(b *testing.B) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
		for b.Loop() {
			if w := post(h, form); w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})

	b.Run("refresh", func(b *testing.B) {
		var rt struct {
			RefreshToken string `json:"refresh_token"`
		}
		w := post(h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bench-secret"}})
		require.NoError(b, json.Unmarshal(w.Body.Bytes(), &rt))
		for b.Loop() {
			w := post(h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.RefreshToken}})
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			require.NoError(b, json.Unmarshal(w.Body.Bytes(), &rt))
		}
	})
}

// The handler provisioned outside a server answers like the integration tests
// expect; this keeps the benchmark honest.
func TestProvisionedHandler_AnswersTokenRequests(t *testing.T) {
	h := provisionedHandler(t)
	w := post(h, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, "Bearer", body["token_type"])
}
