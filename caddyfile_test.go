package caddyoauth2

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	input := `oauth2_token {
		issuer https://auth.example.com
		audience api-1 api-2
		private_key /etc/caddy/oauth.pem {env.KEY_PASS}
		encryption_key lxZFUEsBCJ2Yb14IF2ygAHI5N4+ZAUXXaSeeJm6+twsUmIen
		access_token_ttl 15m
		refresh_token_ttl 90d
		purge_interval 6h
		grants password refresh_token
		default_scope read
		repository file /etc/caddy/oauth.json {
			tokens sql sqlite /var/lib/caddy/tokens.db
		}
	}`
	var h TokenHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)))
	assert.Equal(t, "https://auth.example.com", h.Issuer)
	assert.Equal(t, []string{"api-1", "api-2"}, h.Audience)
	assert.Equal(t, "/etc/caddy/oauth.pem", h.PrivateKey)
	assert.Equal(t, "{env.KEY_PASS}", h.PrivateKeyPassphrase)
	assert.Equal(t, "lxZFUEsBCJ2Yb14IF2ygAHI5N4+ZAUXXaSeeJm6+twsUmIen", h.EncryptionKey)
	assert.Equal(t, caddy.Duration(15*time.Minute), h.AccessTokenTTL)
	assert.Equal(t, caddy.Duration(90*24*time.Hour), h.RefreshTokenTTL)
	assert.Equal(t, caddy.Duration(6*time.Hour), h.PurgeInterval)
	assert.Equal(t, []string{"password", "refresh_token"}, h.Grants)
	assert.Equal(t, []string{"read"}, h.DefaultScope)
	assert.JSONEq(t, `{"backend":"file","path":"/etc/caddy/oauth.json","tokens":{"driver":"sqlite","dsn":"/var/lib/caddy/tokens.db"}}`,
		string(h.RepositoryRaw))
}

// The parser only parses: what a value means is checked at provisioning,
// where a JSON config meets the same checks (module_test.go).
func TestUnmarshalCaddyfile_LeavesMeaningToProvisioning(t *testing.T) {
	var h TokenHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`oauth2_token {
		grants password implicit
		encryption_key tooshort
		repository sql oracle dsn
	}`)))
	assert.Equal(t, []string{"password", "implicit"}, h.Grants)
	assert.Equal(t, "tooshort", h.EncryptionKey)
	assert.JSONEq(t, `{"backend":"sql","driver":"oracle","dsn":"dsn"}`, string(h.RepositoryRaw))
}

func TestUnmarshalCaddyfile_PurgeOff(t *testing.T) {
	var h TokenHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oauth2_token {\n\tpurge_interval off\n}")))
	assert.Negative(t, h.PurgeInterval)
}

func TestUnmarshalCaddyfile_Server(t *testing.T) {
	var h ServerHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`oauth2_server {
		issuer https://auth.example.com
		access_token_ttl 5m
		base_path /auth
		verification_key next.pem old.pub.pem
		key_rotation 7d
	}`)))
	assert.Equal(t, "https://auth.example.com", h.Issuer, "the token endpoint's subdirectives")
	assert.Equal(t, caddy.Duration(5*time.Minute), h.AccessTokenTTL)
	assert.Equal(t, "/auth", h.BasePath)
	assert.Equal(t, []string{"next.pem", "old.pub.pem"}, h.VerificationKeys)
	assert.Equal(t, caddy.Duration(7*24*time.Hour), h.KeyRotation)

	var off ServerHandler
	require.NoError(t, off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oauth2_server {\n\tkey_rotation off\n}")))
	assert.Negative(t, off.KeyRotation)

	var token TokenHandler
	err := token.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oauth2_token {\n\tbase_path /auth\n}"))
	assert.ErrorContains(t, err, `unknown subdirective "base_path"`, "oauth2_token has only the token endpoint")

	for input, want := range map[string]string{
		"oauth2_server {\n\tkey_rotation sometimes\n}":       "key_rotation",
		"oauth2_server {\n\tbase_path\n}":                    "base_path",
		"oauth2_server {\n\tverification_key\n}":             "verification_key",
		"oauth2_server {\n\tbase_path /a\n\tbase_path /b\n}": "more than once",
	} {
		var h ServerHandler
		assert.ErrorContains(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)), want)
	}
}

func TestUnmarshalCaddyfile_Errors(t *testing.T) {
	tests := []struct {
		name, input string
		wantErr     []string // substrings: the subdirective and the line
	}{
		{"unknown subdirective", "oauth2_token {\n\tcolour blue\n}", []string{"colour", "Testfile:2"}},
		{"argument on the directive", "oauth2_token extra", []string{"Testfile:1"}},
		{"bad duration", "oauth2_token {\n\taccess_token_ttl soon\n}", []string{"access_token_ttl", "Testfile:2"}},
		{"negative duration", "oauth2_token {\n\trefresh_token_ttl -1h\n}", []string{"refresh_token_ttl", "positive", "Testfile:2"}},
		{"purge_interval zero", "oauth2_token {\n\tpurge_interval 0s\n}", []string{"purge_interval", "positive", "Testfile:2"}},
		{"purge_interval word", "oauth2_token {\n\tpurge_interval never\n}", []string{"purge_interval", "Testfile:2"}},
		{"private_key without path", "oauth2_token {\n\tprivate_key\n}", []string{"private_key", "Testfile:2"}},
		{"private_key with three args", "oauth2_token {\n\tprivate_key a b c\n}", []string{"private_key", "Testfile:2"}},
		{"issuer twice", "oauth2_token {\n\tissuer a\n\tissuer b\n}", []string{"issuer", "more than once", "Testfile:3"}},
		{"audience without value", "oauth2_token {\n\taudience\n}", []string{"audience", "Testfile:2"}},
		{"unknown backend", "oauth2_token {\n\trepository redis x\n}", []string{"repository", "redis", "Testfile:2"}},
		{"sql without dsn", "oauth2_token {\n\trepository sql sqlite\n}", []string{"repository", "Testfile:2"}},
		{"file tokens not sql", "oauth2_token {\n\trepository file x.json {\n\t\ttokens redis x\n\t}\n}", []string{"repository", "tokens sql", "Testfile:3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h TokenHandler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

// TestCaddyfileAdapt checks every testdata/caddyfile_adapt fixture (a Caddyfile,
// a line of dashes, the JSON `caddy adapt` must print), then that the JSON
// round-trips: unmarshalled into the handler and marshalled again, it is unchanged.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			input, expected, ok := strings.Cut(string(data), "----------")
			require.True(t, ok, "fixture needs a ---------- separator")
			assert.True(t, caddytest.CompareAdapt(t, file, strings.TrimSpace(input)+"\n", "caddyfile", strings.TrimSpace(expected)),
				"adapted JSON differs from the fixture (diff printed above)")

			adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), nil)
			require.NoError(t, err)
			for _, raw := range handlerConfigs(t, adapted) {
				var probe struct {
					Handler string `json:"handler"`
				}
				require.NoError(t, json.Unmarshal(raw, &probe))
				var h any = new(TokenHandler)
				if probe.Handler == "oauth2_server" {
					h = new(ServerHandler)
				}
				require.NoError(t, json.Unmarshal(raw, h))
				again, err := json.Marshal(h)
				require.NoError(t, err)
				var fields map[string]any
				require.NoError(t, json.Unmarshal(again, &fields))
				fields["handler"] = probe.Handler
				again, err = json.Marshal(fields)
				require.NoError(t, err)
				assert.JSONEq(t, string(raw), string(again))
			}
		})
	}
}

// handlerConfigs digs every oauth2_token and oauth2_server handler out of an
// adapted config.
func handlerConfigs(t *testing.T, adapted []byte) []json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "oauth2_token" || v["handler"] == "oauth2_server" {
				raw, err := json.Marshal(v)
				require.NoError(t, err)
				found = append(found, raw)
				return
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	var cfg any
	require.NoError(t, json.Unmarshal(adapted, &cfg))
	walk(cfg)
	require.NotEmpty(t, found, "no oauth2_token or oauth2_server handler in the adapted config")
	return found
}

// The README's quick start runs example.Caddyfile with example/definitions.json:
// both must stay loadable.
func TestExample_AdaptsAndItsDefinitionsLoad(t *testing.T) {
	data, err := os.ReadFile("example.Caddyfile")
	require.NoError(t, err)
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(data, map[string]any{"filename": "example.Caddyfile"})
	require.NoError(t, err)
	for _, raw := range handlerConfigs(t, adapted) {
		var h TokenHandler
		require.NoError(t, json.Unmarshal(raw, &h))
		_, err := h.resolve(caddy.NewReplacer())
		require.NoError(t, err)
		var repo struct{ Path string }
		require.NoError(t, json.Unmarshal(h.RepositoryRaw, &repo))
		_, err = file.Load(repo.Path)
		require.NoError(t, err, "the example's definitions file")
	}
}

// The README publishes the demo's credentials: each must verify against the
// example definitions file's hash.
func TestExample_TheREADMEsCredentialsVerify(t *testing.T) {
	defs, err := file.Load("example/definitions.json")
	require.NoError(t, err)
	compare := func(hash, plaintext string) bool {
		var ok bool
		var err error
		if strings.HasPrefix(hash, "$argon2id$") {
			ok, err = caddyauth.Argon2idHash{}.Compare([]byte(hash), []byte(plaintext))
		} else {
			ok, err = caddyauth.BcryptHash{}.Compare([]byte(hash), []byte(plaintext))
		}
		require.NoError(t, err)
		return ok
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	for username, password := range map[string]string{"alice": "wonderland", "bob": "builder"} {
		u, err := defs.UserByUsername(t.Context(), username)
		require.NoError(t, err)
		assert.True(t, compare(u.PasswordHash, password), "user %s", username)
		assert.True(t, strings.Contains(string(readme), fmt.Sprintf("`%s` (password `%s`)", username, password)),
			"the README gives %s's password", username)
	}
	for id, secret := range map[string]string{"web": "web-secret", "service": "service-secret", "api": "api-secret"} {
		c, err := defs.Client(t.Context(), id)
		require.NoError(t, err)
		assert.True(t, compare(c.SecretHash, secret), "client %s", id)
		assert.True(t, strings.Contains(string(readme), fmt.Sprintf("`%s` (secret `%s`)", id, secret)),
			"the README gives %s's secret", id)
	}
}
