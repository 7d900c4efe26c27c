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
// ES256 key file, a definitions file and SQLite token state in a temp dir, and
// the changes applied to its config.
func provisionedHandler(tb testing.TB, changes ...func(*TokenHandler)) *TokenHandler {
	tb.Helper()
	config := handlerConfig(tb)
	for _, change := range changes {
		change(&config)
	}
	h, err := loadHandler(tb, config)
	require.NoError(tb, err)
	return h
}

// handlerConfig is provisionedHandler's configuration: an ES256 key file, a
// definitions file and SQLite token state in a temp dir.
func handlerConfig(tb testing.TB) TokenHandler {
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
	return TokenHandler{
		PrivateKey:    keyPath,
		EncryptionKey: strings.Repeat("k", 32),
		Grants:        []string{"password", "refresh_token", "client_credentials"},
		// The throttle is shared by every handler of the process with the
		// same limits, across tests too: the tests that send wrong secrets
		// from httptest's one address must not lock each other out. The
		// throttle has tests of its own.
		Throttle:      &ThrottleConfig{Failures: 100000, IPFailures: 100000},
		RepositoryRaw: repo,
	}
}

// loadHandler loads config as Caddy loads a handler: decoded from its JSON
// and provisioned by the module loader. The context ends with the
// test, which cleans the handler up as a config unload would.
func loadHandler(tb testing.TB, config TokenHandler) (*TokenHandler, error) {
	tb.Helper()
	raw, err := json.Marshal(config)
	require.NoError(tb, err)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	tb.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("http.handlers.oauth2_token", raw)
	if err != nil {
		return nil, err
	}
	return mod.(*TokenHandler), nil
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
