package caddyoauth2

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// A site keeps serving its pages with oauth2_server in front of file_server,
// and the server answers its own paths, keys generated into the config's
// storage: what a Caddy user meets after adding the directive.
func TestServer_BesideFileServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy")
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	require.NoError(t, os.MkdirAll(filepath.Join(site, "docs"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>the site</h1>"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(site, "docs", "a.txt"), []byte("a page"), 0o600))
	hash, err := bcrypt.GenerateFromPassword([]byte("svc-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	defs, err := json.Marshal(map[string]any{
		"scopes":  []map[string]string{{"id": "read"}},
		"clients": []map[string]any{{"id": "svc", "secret_hash": string(hash), "grants": []string{"client_credentials"}}},
	})
	require.NoError(t, err)
	defsPath := filepath.Join(dir, "defs.json")
	require.NoError(t, os.WriteFile(defsPath, defs, 0o600))

	tc := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: rootAdminPort})
	tc.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port 9182
	storage file_system %s
}

http://localhost:9182 {
	bind 127.0.0.1
	oauth2_server {
		issuer http://localhost:9182
		repository file %s {
			tokens sql sqlite %s
		}
	}
	root * %s
	file_server
}
`, rootAdminPort, filepath.Join(dir, "storage"), defsPath, filepath.Join(dir, "tokens.db"), site), "caddyfile")

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://localhost:9182" + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}

	status, body := get("/")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "the site", "the site's pages are served as before")
	status, body = get("/docs/a.txt")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "a page", body)
	status, _ = get("/oauth/nothing-here")
	assert.Equal(t, http.StatusNotFound, status, "an unknown path under /oauth is the site's 404")

	status, body = get("/.well-known/oauth-authorization-server")
	require.Equal(t, http.StatusOK, status)
	var md map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &md))
	assert.Equal(t, "http://localhost:9182/oauth/jwks.json", md["jwks_uri"])

	status, body = get("/oauth/jwks.json")
	require.Equal(t, http.StatusOK, status)
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &jwks))
	require.Len(t, jwks.Keys, 1, "one generated key")
	assert.Equal(t, "ES256", jwks.Keys[0]["alg"])
	assert.FileExists(t, filepath.Join(dir, "storage", "oauth2", "signing_keys.json"), "kept in the config's storage")

	req, err := http.NewRequest(http.MethodPost, "http://localhost:9182/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "svc-secret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
