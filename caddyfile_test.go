package caddyoauth2

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
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

func TestUnmarshalCaddyfile_PurgeOff(t *testing.T) {
	var h TokenHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oauth2_token {\n\tpurge_interval off\n}")))
	assert.Negative(t, h.PurgeInterval)
}

func TestUnmarshalCaddyfile_Errors(t *testing.T) {
	tests := []struct {
		name, input string
		wantErr     []string // substrings: the subdirective and the line
	}{
		{"unknown subdirective", "oauth2_token {\n\tcolour blue\n}", []string{"colour", "Testfile:2"}},
		{"argument on the directive", "oauth2_token extra", []string{"Testfile:1"}},
		{"unknown grant", "oauth2_token {\n\n\tgrants password implicit\n}", []string{"grants", "implicit", "Testfile:3"}},
		{"bad duration", "oauth2_token {\n\taccess_token_ttl soon\n}", []string{"access_token_ttl", "Testfile:2"}},
		{"negative duration", "oauth2_token {\n\trefresh_token_ttl -1h\n}", []string{"refresh_token_ttl", "positive", "Testfile:2"}},
		{"purge_interval zero", "oauth2_token {\n\tpurge_interval 0s\n}", []string{"purge_interval", "positive", "Testfile:2"}},
		{"purge_interval word", "oauth2_token {\n\tpurge_interval never\n}", []string{"purge_interval", "Testfile:2"}},
		{"short encryption key", "oauth2_token {\n\tencryption_key tooshort\n}", []string{"encryption_key", "32 bytes", "Testfile:2"}},
		{"private_key without path", "oauth2_token {\n\tprivate_key\n}", []string{"private_key", "Testfile:2"}},
		{"private_key with three args", "oauth2_token {\n\tprivate_key a b c\n}", []string{"private_key", "Testfile:2"}},
		{"issuer twice", "oauth2_token {\n\tissuer a\n\tissuer b\n}", []string{"issuer", "more than once", "Testfile:3"}},
		{"audience without value", "oauth2_token {\n\taudience\n}", []string{"audience", "Testfile:2"}},
		{"unknown backend", "oauth2_token {\n\trepository redis x\n}", []string{"repository", "redis", "Testfile:2"}},
		{"unknown driver", "oauth2_token {\n\trepository sql oracle dsn\n}", []string{"repository", "oracle", "Testfile:2"}},
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
				var h TokenHandler
				require.NoError(t, json.Unmarshal(raw, &h))
				again, err := json.Marshal(struct {
					Handler string `json:"handler"`
					*TokenHandler
				}{"oauth2_token", &h})
				require.NoError(t, err)
				assert.JSONEq(t, string(raw), string(again))
			}
		})
	}
}

// handlerConfigs digs every oauth2_token handler out of an adapted config.
func handlerConfigs(t *testing.T, adapted []byte) []json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "oauth2_token" {
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
	require.NotEmpty(t, found, "no oauth2_token handler in the adapted config")
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
		require.NoError(t, h.Validate())
		var repo struct{ Path string }
		require.NoError(t, json.Unmarshal(h.RepositoryRaw, &repo))
		_, err := file.Load(repo.Path)
		require.NoError(t, err, "the example's definitions file")
	}
}
