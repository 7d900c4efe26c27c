package caddyoauth2

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// sqliteRepository is the JSON of a repository with its SQLite database at path.
func sqliteRepository(path string) json.RawMessage {
	return json.RawMessage(`{"backend":"sql","driver":"sqlite","dsn":"` + path + `"}`)
}

// Every provisioning mistake is a config error that names the subdirective, so
// `caddy validate` points at the line to fix, and never echoes a secret.
func TestProvision_ErrorsNameTheSubdirective(t *testing.T) {
	dir := t.TempDir()
	keyPath := writeKeyFile(t, dir)
	garbagePath := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbagePath, []byte("not a key"), 0o600))
	badDefs := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badDefs, []byte(`{"clients":[{"id":"a:b"}]}`), 0o600))
	t.Setenv("SHORT_SECRET", "only-20-bytes-long!!")
	t.Setenv("EMPTY_VALUE", "")

	const goodKey = "an-encryption-key-of-32-bytes-at-least"
	valid := func() TokenHandler {
		return TokenHandler{PrivateKey: keyPath, EncryptionKey: goodKey, RepositoryRaw: sqliteRepository(filepath.Join(dir, t.Name()+".db"))}
	}
	with := func(change func(*TokenHandler)) TokenHandler {
		h := valid()
		change(&h)
		return h
	}
	tests := []struct {
		name    string
		handler TokenHandler
		want    []string
	}{
		{"missing key file", with(func(h *TokenHandler) { h.PrivateKey = filepath.Join(dir, "nope.pem") }),
			[]string{"private_key: ", "nope.pem does not exist", "caddy oauth2 keygen"}},
		{"not a key", with(func(h *TokenHandler) { h.PrivateKey = garbagePath }),
			[]string{"private_key: ", "garbage.pem"}},
		{"empty passphrase placeholder", with(func(h *TokenHandler) { h.PrivateKeyPassphrase = "{env.EMPTY_VALUE}" }),
			[]string{"private_key: passphrase {env.EMPTY_VALUE} resolved to an empty value"}},
		{"passphrase without a key file", with(func(h *TokenHandler) { h.PrivateKey, h.PrivateKeyPassphrase = "", "secret" }),
			[]string{"private_key: a passphrase is given without a key file"}},
		{"short encryption key", with(func(h *TokenHandler) { h.EncryptionKey = "tooshort" }),
			[]string{"encryption_key: must be at least 32 bytes, got 8"}},
		{"short encryption key from the environment", with(func(h *TokenHandler) { h.EncryptionKey = "{env.SHORT_SECRET}" }),
			[]string{"encryption_key: must be at least 32 bytes, got 20"}},
		{"encryption key placeholder unset", with(func(h *TokenHandler) { h.EncryptionKey = "{env.EMPTY_VALUE}" }),
			[]string{"encryption_key: {env.EMPTY_VALUE} resolved to an empty value"}},
		{"issuer placeholder unset", with(func(h *TokenHandler) { h.Issuer = "{env.EMPTY_VALUE}" }),
			[]string{"issuer: {env.EMPTY_VALUE} resolved to an empty value"}},
		{"audience placeholder unset", with(func(h *TokenHandler) { h.Audience = []string{"api", "{env.EMPTY_VALUE}"} }),
			[]string{"audience: {env.EMPTY_VALUE} resolved to an empty value"}},
		{"sub-second access_token_ttl", with(func(h *TokenHandler) { h.AccessTokenTTL = caddy.Duration(time.Millisecond) }),
			[]string{"access_token_ttl: must be at least 1s"}},
		{"negative refresh_token_ttl", with(func(h *TokenHandler) { h.RefreshTokenTTL = -1 }),
			[]string{"refresh_token_ttl: must be at least 1s"}},
		{"purge_interval too short", with(func(h *TokenHandler) { h.PurgeInterval = caddy.Duration(time.Second) }),
			[]string{"purge_interval: must be at least 1m0s, or off"}},
		{"unknown grant", with(func(h *TokenHandler) { h.Grants = []string{"password", "implicit"} }),
			[]string{`grants: unknown grant "implicit" (want refresh_token, password, client_credentials)`}},
		{"malformed default scope", with(func(h *TokenHandler) { h.DefaultScope = []string{"read write"} }),
			[]string{"default_scope: ", "read write"}},
		{"bad definitions file", with(func(h *TokenHandler) {
			h.RepositoryRaw = json.RawMessage(`{"backend":"file","path":"` + badDefs + `","tokens":{"driver":"sqlite","dsn":"` + filepath.Join(dir, "d.db") + `"}}`)
		}), []string{"repository: ", "bad.json", `clients[0] "a:b"`}},
		{"unknown driver", with(func(h *TokenHandler) {
			h.RepositoryRaw = json.RawMessage(`{"backend":"sql","driver":"oracle","dsn":"x"}`)
		}),
			[]string{"repository: ", `unknown driver "oracle" (want one of sqlite, postgres, mysql)`}},
		{"dsn placeholder unset", with(func(h *TokenHandler) {
			h.RepositoryRaw = json.RawMessage(`{"backend":"sql","driver":"postgres","dsn":"{env.EMPTY_VALUE}"}`)
		}), []string{"repository: ", "postgres: dsn: {env.EMPTY_VALUE} resolved to an empty value"}},
		{"unreachable database", with(func(h *TokenHandler) {
			h.RepositoryRaw = json.RawMessage(`{"backend":"sql","driver":"postgres","dsn":"postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=2"}`)
		}), []string{"repository: ", "postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadHandler(t, tt.handler)
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "only-20-bytes-long", "a secret must never be echoed")
			assert.NotContains(t, err.Error(), "hunter2", "a DSN's password must never be echoed")
			assert.NotContains(t, err.Error(), "tooshort", "a secret must never be echoed")
		})
	}
}

// Every setting is checked before anything is opened: a wrong TTL next to a
// working key and repository leaves no database file behind and no key in
// storage, and every wrong setting, the repository's included, is reported
// at once.
func TestProvision_ChecksSettingsBeforeOpeningAnything(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "oauth2.db")
	_, err := loadHandler(t, TokenHandler{
		PrivateKey:     writeKeyFile(t, dir),
		EncryptionKey:  "an-encryption-key-of-32-bytes-at-least",
		AccessTokenTTL: caddy.Duration(time.Millisecond),
		RepositoryRaw:  sqliteRepository(dbPath),
	})
	require.ErrorContains(t, err, "access_token_ttl: must be at least 1s")
	assert.NoFileExists(t, dbPath, "no database is opened before the settings are right")

	defsPath := filepath.Join(dir, "defs.json")
	require.NoError(t, os.WriteFile(defsPath, []byte(`{}`), 0o600))
	_, err = loadHandler(t, TokenHandler{
		PrivateKey:      filepath.Join(dir, "missing.pem"),
		EncryptionKey:   "an-encryption-key-of-32-bytes-at-least",
		AccessTokenTTL:  caddy.Duration(time.Millisecond),
		RefreshTokenTTL: -1,
		Grants:          []string{"implicit"},
		RepositoryRaw:   json.RawMessage(`{"backend":"file","path":"` + defsPath + `","tokens":{"driver":"oracle","dsn":"x"}}`),
	})
	require.Error(t, err)
	for _, want := range []string{"access_token_ttl: ", "refresh_token_ttl: ", "grants: ", `repository: tokens: unknown driver "oracle"`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "missing.pem", "the key file is not looked at before the settings are right")
}

// An issuer from a placeholder is resolved once, at load, and every token
// carries the resolved value.
func TestProvision_IssuerFromAPlaceholder(t *testing.T) {
	t.Setenv("OAUTH2_TEST_ISSUER", "https://auth.example.com")
	h := provisionedHandler(t, func(h *TokenHandler) { h.Issuer = "{env.OAUTH2_TEST_ISSUER}" })
	w := post(h, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "https://auth.example.com", accessTokenClaims(t, w)["iss"])

	// Without an issuer, the request's origin is the issuer.
	h = provisionedHandler(t)
	w = post(h, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "http://auth.test", accessTokenClaims(t, w)["iss"])
}

// accessTokenClaims decodes the claims of the access token in a token answer;
// the signature is the tokens package's to test.
func accessTokenClaims(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	parts := strings.Split(body.AccessToken, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	return claims
}

// The handler's own log lines use the client IP Caddy computed (which
// honours trusted_proxies), not the address of the proxy in front.
func TestServeHTTP_LogsTheClientIPCaddyComputed(t *testing.T) {
	h := provisionedHandler(t)
	core, logs := observer.New(zapcore.DebugLevel)
	h.logger = zap.New(core)
	serve := func(form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/token", strings.NewReader(form.Encode()))
		r.RemoteAddr = "10.0.0.1:5000" // the load balancer
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("bench", "bench-secret")
		ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.7"})
		w := httptest.NewRecorder()
		require.NoError(t, h.ServeHTTP(w, r.WithContext(ctx), nil))
		return w
	}

	var rt struct {
		RefreshToken string `json:"refresh_token"`
	}
	w := serve(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bench-secret"}})
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rt))
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.RefreshToken}}
	require.Equal(t, http.StatusOK, serve(refresh).Code)
	require.Equal(t, http.StatusBadRequest, serve(refresh).Code, "a replay")

	replays := logs.FilterMessage("refresh token replayed: revoked every token of its grant").All()
	require.Len(t, replays, 1)
	assert.Equal(t, "203.0.113.7", replays[0].ContextMap()["remote_ip"])
	assert.Equal(t, "bench", replays[0].ContextMap()["client_id"])
}

// Like league's CryptKey, a key file other users can read earns a warning.
func TestReadKeyFile_WarnsWhenOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(path, []byte("pem"), 0o600))
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}, {0o604, true}} {
		require.NoError(t, os.Chmod(path, tc.mode))
		core, logs := observer.New(zapcore.WarnLevel)
		data, err := readKeyFile(zap.New(core), path)
		require.NoError(t, err)
		assert.Equal(t, "pem", string(data))
		assert.Equal(t, tc.warn, logs.Len() == 1, "mode %o", tc.mode)
		if tc.warn {
			assert.True(t, strings.Contains(logs.All()[0].Message, "other users"))
		}
	}
}

// An id from a request is logged at most as long as a stored id can be: a
// longer one is no client's, and would only let a request bloat the log.
func TestLoggedID_CutsWhatNoRepositoryHolds(t *testing.T) {
	assert.Equal(t, "web", loggedID("web"))
	fits := strings.Repeat("c", repos.MaxIDLength)
	assert.Equal(t, fits, loggedID(fits))
	assert.Equal(t, fits+"...", loggedID(strings.Repeat("c", 64<<10)))
}
