package manage

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManageLocation_Parse(t *testing.T) {
	tests := []struct {
		spec string
		want Location
	}{
		{"sql sqlite /var/lib/caddy/oauth2.db", Location{Backend: "sql", Driver: "sqlite", DSN: "/var/lib/caddy/oauth2.db"}},
		{"  sql   postgres   host=db user=caddy password=s3cret  ", Location{Backend: "sql", Driver: "postgres", DSN: "host=db user=caddy password=s3cret"}},
		{"sql mysql caddy:pw@tcp(db:3306)/oauth2", Location{Backend: "sql", Driver: "mysql", DSN: "caddy:pw@tcp(db:3306)/oauth2"}},
		{"sql\tsqlite\t{env.DB}", Location{Backend: "sql", Driver: "sqlite", DSN: "{env.DB}"}},
		{"file /etc/caddy/My Clients.json", Location{Backend: "file", Path: "/etc/caddy/My Clients.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseLocation(tt.spec)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestManageLocation_ParseRefused(t *testing.T) {
	for _, spec := range []string{"", "sql", "sql postgres", "file", "file   ", "json x.json", "postgres://u:s3cret@db/x"} {
		t.Run(spec, func(t *testing.T) {
			_, err := parseLocation(spec)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "s3cret", "the value is not repeated")
			assert.Contains(t, err.Error(), `want "sql <driver> <dsn>" or "file <path>"`)
		})
	}
}

func TestManageLocation_StringHidesTheDSN(t *testing.T) {
	loc := Location{Backend: "sql", Driver: "postgres", DSN: "postgres://caddy:s3cret@db/oauth2"}
	assert.Equal(t, "postgres database", loc.String())
	assert.Equal(t, "definitions file /etc/x.json", Location{Backend: "file", Path: "/etc/x.json"}.String())
}

// route wraps handlers in a minimal Caddy JSON config, inside a subroute as
// the Caddyfile adapter nests them.
func route(handlers ...string) []byte {
	return []byte(`{"apps": {"http": {"servers": {"srv0": {"routes": [{"handle": [{"handler": "subroute", "routes": [{"handle": [` +
		strings.Join(handlers, ", ") + `]}]}]}]}}}}}`)
}

func TestManageLocation_FindInConfig(t *testing.T) {
	def := Location{Backend: "sql", Driver: "sqlite", DSN: "/data/caddy/oauth2/oauth2.db"}
	replace := func(s string) string { return strings.ReplaceAll(s, "{env.DIR}", "/etc/caddy") }
	tests := []struct {
		name   string
		config []byte
		want   Location
	}{
		{"no repository: the default", route(`{"handler": "oauth2_token"}`), def},
		{"sql without driver: the default", route(`{"handler": "oauth2_token", "repository": {"backend": "sql"}}`), def},
		{"sql", route(`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "postgres", "dsn": "host=db"}}`),
			Location{Backend: "sql", Driver: "postgres", DSN: "host=db"}},
		{"file, its token store ignored", route(`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "defs.json", "tokens": {"driver": "sqlite", "dsn": "t.db"}}}`),
			Location{Backend: "file", Path: "defs.json"}},
		{"placeholders resolved", route(`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "{env.DIR}/defs.json"}}`),
			Location{Backend: "file", Path: "/etc/caddy/defs.json"}},
		{"other handlers ignored", route(`{"handler": "static_response"}`, `{"handler": "oauth2_token", "repository": {"backend": "file", "path": "a.json"}}`),
			Location{Backend: "file", Path: "a.json"}},
		{"several handlers, one repository", route(
			`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "/etc/caddy/defs.json"}}`,
			`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "{env.DIR}/defs.json"}}`),
			Location{Backend: "file", Path: "/etc/caddy/defs.json"}},
		{"several handlers, the default twice", route(`{"handler": "oauth2_token"}`, `{"handler": "oauth2_token", "repository": {"backend": "sql"}}`), def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findInConfig(tt.config, def, replace)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestManageLocation_FindInConfigRefused(t *testing.T) {
	def := Location{Backend: "sql", Driver: "sqlite", DSN: "/data/oauth2.db"}
	tests := []struct {
		name   string
		config []byte
		want   string
	}{
		{"no handler", route(`{"handler": "static_response"}`), "no oauth2_token handler; name the repository with --repository"},
		{"different repositories", route(
			`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "postgres", "dsn": "postgres://u:s3cret@db/x"}}`,
			`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "defs.json"}}`),
			"use 2 different repositories (postgres database; definitions file defs.json); choose one with --repository"},
		{"unknown backend", route(`{"handler": "oauth2_token", "repository": {"backend": "ldap"}}`), `handler 1 of the config: repository: unknown backend "ldap"`},
		{"file without path", route(`{"handler": "oauth2_token", "repository": {"backend": "file"}}`), "file needs a path"},
		{"sql without dsn", route(`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "postgres"}}`), "sql needs a driver and a dsn"},
		{"not JSON", []byte("oauth2_token"), "reading config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := findInConfig(tt.config, def, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret", "no DSN in errors")
		})
	}
}
