package caddyoauth2

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// A definitions file edited while Caddy runs takes effect within a second,
// whether `caddy oauth2` or a text editor changed it: `caddy reload` would say
// the config is unchanged. A broken edit is logged with its line and changes
// nothing; the next good edit applies.
func TestDefinitionsFile_TakesEffectWithoutAReload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy")
	}
	dir := t.TempDir()
	defsPath := filepath.Join(dir, "defs.json")
	// The client's secret hash is cheap, and the client stays known
	// throughout: an unknown client id still costs a fake hash at the
	// definitions' cost, seconds under -race.
	hash, err := bcrypt.GenerateFromPassword([]byte("svc-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(defsPath, []byte(`{"scopes": [{"id": "read"}],
		"clients": [{"id": "svc", "secret_hash": "`+string(hash)+`", "grants": ["client_credentials"]}]}`), 0o600))
	serverLog := filepath.Join(dir, "server.log")

	tc := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: rootAdminPort})
	tc.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port 9182
	log {
		output file %s
		format json
	}
}

http://localhost:9182 {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		private_key %s
		encryption_key an-encryption-key-of-32-bytes-at-least
		repository file %s {
			tokens sql sqlite %s
		}
	}
}
`, rootAdminPort, serverLog, writeKeyFile(t, dir), defsPath, filepath.Join(dir, "tokens.db")), "caddyfile")

	// The scope write is unknown until it is declared.
	status := func() int {
		req, err := http.NewRequest(http.MethodPost, "http://localhost:9182/oauth/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", "svc-secret")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	const declared, undeclared = http.StatusOK, http.StatusBadRequest
	require.Equal(t, undeclared, status(), "no scope write yet")

	_, _, err = oauth2Command(t, "scope", "add", "write", "--repository", "file "+defsPath)
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return status() == declared }, 10*time.Second, 50*time.Millisecond,
		"the scope added with caddy oauth2 is in effect without a reload")

	good, err := os.ReadFile(defsPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(defsPath, []byte("{\n  \"scopes\": [\n    {\"id\": \"read\"},\n  ]\n}\n"), 0o600))
	assert.Eventually(t, func() bool {
		data, _ := os.ReadFile(serverLog)
		return strings.Contains(string(data), "definitions file not reloaded") && strings.Contains(string(data), "line 4")
	}, 10*time.Second, 100*time.Millisecond, "the broken edit is logged with its line")
	assert.Equal(t, declared, status(), "the last good definitions stay in effect")
	if t.Failed() {
		data, _ := os.ReadFile(serverLog)
		t.Logf("server log:\n%s", data)
	}

	edited := strings.Replace(string(good), `{"id": "write"}`, `{"id": "write-renamed"}`, 1)
	require.NotEqual(t, string(good), edited)
	require.NoError(t, os.WriteFile(defsPath, []byte(edited), 0o600))
	assert.Eventually(t, func() bool { return status() == undeclared }, 10*time.Second, 50*time.Millisecond,
		"a hand edit applies too")
}
