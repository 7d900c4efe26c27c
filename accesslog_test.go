package caddyoauth2

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// rootAdminPort is the admin port of the root package's caddytest server;
// package e2e's uses caddytest's default, 2999, and the two may run at once.
const rootAdminPort = 2998

// An operator reads who asked for a token in Caddy's access log: client_id
// on every token request, and user_id (Caddy's own field, which caddyauth
// fills for basic_auth) on every user token; never a secret. Behind
// a trusted proxy, the handler's own warnings name the client's IP, not the
// proxy's, so that fail2ban bans the right address.
func TestAccessLog_NamesClientAndUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Caddy")
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("app-secret"), bcrypt.MinCost)
	require.NoError(t, err)
	defs, err := json.Marshal(map[string]any{
		"scopes":  []map[string]string{{"id": "read"}},
		"clients": []map[string]any{{"id": "app", "secret_hash": string(hash)}},
		"users":   []map[string]any{{"id": "u-42", "username": "carol", "password_hash": string(hash)}},
	})
	require.NoError(t, err)
	defsPath := filepath.Join(dir, "defs.json")
	require.NoError(t, os.WriteFile(defsPath, defs, 0o600))
	accessLog, serverLog := filepath.Join(dir, "access.log"), filepath.Join(dir, "server.log")

	tc := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: rootAdminPort})
	tc.InitServer(fmt.Sprintf(`{
	admin localhost:%d
	http_port 9181
	log {
		output file %s
		format json
		level INFO
	}
	servers {
		trusted_proxies static 127.0.0.1/8
	}
}

http://localhost:9181 {
	bind 127.0.0.1
	log {
		output file %s
		format json
	}
	oauth2_token /oauth/token {
		private_key %s
		encryption_key an-encryption-key-of-32-bytes-at-least
		grants password refresh_token client_credentials
		repository file %s {
			tokens sql sqlite %s
		}
	}
}
`, rootAdminPort, serverLog, accessLog, writeKeyFile(t, dir), defsPath, filepath.Join(dir, "tokens.db")), "caddyfile")

	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://localhost:9181/oauth/token", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.SetBasicAuth("app", "app-secret")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, issued := token(url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"app-secret"}})
	require.Equal(t, http.StatusOK, status, issued)
	status, _ = token(url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, status)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {issued["refresh_token"].(string)}}
	status, _ = token(refresh)
	require.Equal(t, http.StatusOK, status)
	status, _ = token(refresh) // a replay
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = token(url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"not-carols"}})
	require.Equal(t, http.StatusBadRequest, status)
	tc.InitServer(fmt.Sprintf(`{"admin": {"listen": "localhost:%d"}}`, rootAdminPort), "json") // flushes and closes the logs

	entries := readLogEntries(t, accessLog)
	require.Len(t, entries, 5)
	assert.Equal(t, "u-42", entries[0]["user_id"], "password grant")
	assert.Empty(t, entries[1]["user_id"], "client_credentials has no user")
	assert.Equal(t, "u-42", entries[2]["user_id"], "refresh of a user's token")
	assert.Empty(t, entries[3]["user_id"], "a refused request has no user")
	for i, e := range entries {
		assert.Equal(t, "app", e["client_id"], "entry %d", i)
	}

	var replays []map[string]any
	for _, e := range readLogEntries(t, serverLog) {
		if strings.HasPrefix(fmt.Sprint(e["msg"]), "refresh token replayed") {
			replays = append(replays, e)
		}
	}
	require.Len(t, replays, 1)
	assert.Equal(t, "203.0.113.7", replays[0]["remote_ip"], "the client behind the trusted proxy")

	// The failed password is one INFO line, which the README's fail2ban
	// filter matches with the client's address.
	failregex := readmeFailregex(t)
	var banned []string
	lines, err := os.ReadFile(serverLog)
	require.NoError(t, err)
	for _, line := range strings.Split(string(lines), "\n") {
		if m := failregex.FindStringSubmatch(line); m != nil {
			banned = append(banned, m[failregex.SubexpIndex("host")])
			assert.Contains(t, line, `"level":"info"`)
			assert.Contains(t, line, `"reason":"wrong_password"`)
			assert.Contains(t, line, `"username_hash":"`+usernameHash("carol")+`"`)
		}
	}
	assert.Equal(t, []string{"203.0.113.7"}, banned)

	for _, path := range []string{accessLog, serverLog} {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.NotContains(t, string(data), "app-secret", path)
		assert.NotContains(t, string(data), "not-carols", path)
		assert.NotContains(t, string(data), `"carol"`, path)
		assert.NotContains(t, string(data), issued["refresh_token"], path)
		assert.NotContains(t, string(data), issued["access_token"], path)
	}
}

// readmeFailregex is the README's fail2ban failregex, with fail2ban's
// <HOST> as a named group, so that the filter the README gives is the one
// tested against a real log line.
func readmeFailregex(t *testing.T) *regexp.Regexp {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^failregex = (.+)$`).FindSubmatch(readme)
	require.NotNil(t, m, "the README gives a failregex")
	return regexp.MustCompile(strings.Replace(string(m[1]), "<HOST>", `(?P<host>[0-9A-Fa-f:.]+)`, 1))
}

// readLogEntries decodes a JSON log file, one entry per line.
func readLogEntries(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var entries []map[string]any
	scanner := bufio.NewScanner(f)
	scanner.Buffer(nil, 1<<20)
	for scanner.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &e), scanner.Text())
		entries = append(entries, e)
	}
	require.NoError(t, scanner.Err())
	return entries
}
