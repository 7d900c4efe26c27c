package caddyoauth2

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/internal/manage"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

// oauth2Command runs the registered `caddy oauth2` command with args, as
// caddycmd would, with Caddy's real config loading and placeholders.
func oauth2Command(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	registered, ok := caddycmd.Commands()["oauth2"]
	require.True(t, ok, "the oauth2 command is registered")
	cmd := &cobra.Command{Use: "oauth2", Short: registered.Short, SilenceUsage: true, SilenceErrors: true}
	registered.CobraFunc(cmd)
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

func TestCommand_Registered(t *testing.T) {
	registered, ok := caddycmd.Commands()["oauth2"]
	require.True(t, ok)
	cmd := &cobra.Command{Use: "oauth2"}
	registered.CobraFunc(cmd)
	var names []string
	for _, c := range cmd.Commands() {
		var subs []string
		for _, s := range c.Commands() {
			subs = append(subs, s.Name())
		}
		names = append(names, c.Name()+" "+strings.Join(subs, ","))
	}
	assert.ElementsMatch(t, []string{
		"client add,list,remove,rotate-secret,show,update",
		"user add,list,remove,set-password",
		"scope add,list,remove",
		"revoke ",
		"keygen ",
		"key list,rotate",
	}, names)
}

// TestCommand_CaddyfileRepository: the commands find the repository in a
// Caddyfile's oauth2_token directive, as `caddy run` would load it.
func TestCommand_CaddyfileRepository(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OAUTH2_TEST_DIR", dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))

	writeCaddyfile := func(name, directive string) string {
		path := filepath.Join(dir, name)
		site := ":8080 {\n\toauth2_token /oauth/token {\n\t\t" + directive + "\n\t}\n}\n"
		require.NoError(t, os.WriteFile(path, []byte(site), 0o600))
		return path
	}
	sqlScopes := func(t *testing.T, db string) []string {
		t.Helper()
		s, err := reposql.Open(t.Context(), "sqlite", db)
		require.NoError(t, err)
		defer s.Close()
		scopes, err := s.ListScopes(t.Context())
		require.NoError(t, err)
		var ids []string
		for _, sc := range scopes {
			ids = append(ids, sc.ID)
		}
		return ids
	}

	t.Run("file", func(t *testing.T) {
		cfg := writeCaddyfile("Caddyfile", "repository file {env.OAUTH2_TEST_DIR}/defs.json")
		_, stderr, err := oauth2Command(t, "scope", "add", "read", "--config", cfg)
		require.NoError(t, err)
		assert.Contains(t, stderr, "no reload is needed")
		_, _, err = oauth2Command(t, "client", "add", "cli", "--public", "--scopes", "read", "--config", cfg)
		require.NoError(t, err)

		defs, err := file.Load(filepath.Join(dir, "defs.json"))
		require.NoError(t, err)
		cli, err := defs.Client(t.Context(), "cli")
		require.NoError(t, err)
		assert.Equal(t, []string{"read"}, cli.Scopes)

		out, _, err := oauth2Command(t, "client", "list", "--config", cfg)
		require.NoError(t, err)
		assert.Regexp(t, `(?m)^cli\s+public`, out)
	})

	t.Run("sql", func(t *testing.T) {
		db := filepath.Join(dir, "oauth2.db")
		cfg := writeCaddyfile("sql.caddyfile", "repository sql sqlite "+db)
		_, stderr, err := oauth2Command(t, "scope", "add", "write", "--config", cfg)
		require.NoError(t, err)
		assert.NotContains(t, stderr, "caddy reload", "a SQL repository's changes apply at once")
		assert.Equal(t, []string{"write"}, sqlScopes(t, db))
	})

	t.Run("adapter", func(t *testing.T) {
		db := filepath.Join(dir, "adapted.db")
		cfg := writeCaddyfile("oauth2.conf", "repository sql sqlite "+db)
		_, _, err := oauth2Command(t, "scope", "add", "admin", "--config", cfg, "--adapter", "caddyfile")
		require.NoError(t, err)
		assert.Equal(t, []string{"admin"}, sqlScopes(t, db))
	})

	t.Run("default repository", func(t *testing.T) {
		cfg := writeCaddyfile("default.caddyfile", "grants refresh_token")
		_, _, err := oauth2Command(t, "scope", "add", "profile", "--config", cfg)
		require.NoError(t, err)
		assert.Equal(t, []string{"profile"}, sqlScopes(t, filepath.Join(dir, "data", "caddy", "oauth2", "oauth2.db")),
			"sql sqlite <caddy data dir>/oauth2/oauth2.db")
	})

	t.Run("--repository", func(t *testing.T) {
		db := filepath.Join(dir, "direct.db")
		t.Setenv("OAUTH2_TEST_DB", db)
		_, _, err := oauth2Command(t, "scope", "add", "email", "--repository", "sql sqlite {env.OAUTH2_TEST_DB}")
		require.NoError(t, err)
		assert.Equal(t, []string{"email"}, sqlScopes(t, db))
	})

	// A definitions file's tokens are revoked in the database of its tokens
	// block, as provisioning opens it.
	t.Run("file with a tokens block", func(t *testing.T) {
		db := filepath.Join(dir, "tokens.db")
		cfg := writeCaddyfile("tokens.caddyfile", "repository file {env.OAUTH2_TEST_DIR}/tokens-defs.json {\n\t\t\ttokens sql sqlite "+db+"\n\t\t}")
		_, _, err := oauth2Command(t, "client", "add", "web", "--config", cfg)
		require.NoError(t, err)
		tokens, err := reposql.Open(t.Context(), "sqlite", db)
		require.NoError(t, err)
		defer tokens.Close()
		r := repos.RefreshToken{ID: "rt", FamilyID: "f", ClientID: "web", ExpiresAt: time.Now().Add(time.Hour), AccessTokenID: "at"}
		require.NoError(t, tokens.Issue(t.Context(), r))

		_, stderr, err := oauth2Command(t, "revoke", "--client", "web", "--config", cfg)
		require.NoError(t, err)
		assert.Contains(t, stderr, "Revoking tokens in the sqlite database "+db+".")
		_, revoked, err := tokens.RefreshTokenState(t.Context(), "rt")
		require.NoError(t, err)
		assert.True(t, revoked)
	})

	t.Run("handlers disagree", func(t *testing.T) {
		path := filepath.Join(dir, "two.caddyfile")
		two := ":8080 {\n\toauth2_token /a {\n\t\trepository file a.json\n\t}\n\toauth2_token /b {\n\t\trepository sql sqlite b.db\n\t}\n}\n"
		require.NoError(t, os.WriteFile(path, []byte(two), 0o600))
		_, _, err := oauth2Command(t, "scope", "list", "--config", path)
		require.ErrorContains(t, err, "use 2 different repositories")
		assert.ErrorContains(t, err, "choose one with --repository")
	})
}

// The commands read a handler's repository as provisioning does: decoded into
// the repository module, defaults applied, placeholders resolved.
func TestConfigRepositories(t *testing.T) {
	t.Setenv("OAUTH2_TEST_DIR", "/etc/caddy")
	def := manage.Location{Backend: manage.BackendSQL, Driver: "sqlite", DSN: filepath.Join(caddy.AppDataDir(), "oauth2", "oauth2.db")}
	route := func(handlers ...string) []byte {
		return []byte(`{"apps": {"http": {"servers": {"srv0": {"routes": [{"handle": [{"handler": "subroute", "routes": [{"handle": [` +
			strings.Join(handlers, ", ") + `]}]}]}]}}}}}`)
	}
	tests := []struct {
		name   string
		config []byte
		want   []manage.Location
	}{
		{"no repository: the default", route(`{"handler": "oauth2_token"}`), []manage.Location{def}},
		{"sql without driver: the default", route(`{"handler": "oauth2_token", "repository": {"backend": "sql"}}`), []manage.Location{def}},
		{"sql", route(`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "postgres", "dsn": "host=db"}}`),
			[]manage.Location{{Backend: "sql", Driver: "postgres", DSN: "host=db"}}},
		{"file with its token store", route(`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "defs.json", "tokens": {"driver": "postgres", "dsn": "{env.OAUTH2_TEST_DIR}"}}}`),
			[]manage.Location{{Backend: "file", Path: "defs.json", TokenDriver: "postgres", TokenDSN: "/etc/caddy"}}},
		{"placeholders resolved, the default token store", route(`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "{env.OAUTH2_TEST_DIR}/defs.json"}}`),
			[]manage.Location{{Backend: "file", Path: "/etc/caddy/defs.json", TokenDriver: def.Driver, TokenDSN: def.DSN}}},
		{"other handlers ignored", route(`{"handler": "static_response"}`, `{"handler": "oauth2_token", "repository": {"backend": "file", "path": "a.json"}}`),
			[]manage.Location{{Backend: "file", Path: "a.json", TokenDriver: def.Driver, TokenDSN: def.DSN}}},
		{"no handler", route(`{"handler": "static_response"}`), []manage.Location{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configRepositories(tt.config)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	for config, want := range map[string]string{
		string(route(`{"handler": "oauth2_token", "repository": {"backend": "ldap"}}`)):                           `oauth2_token handler 1 of the config: repository: unknown backend "ldap"`,
		string(route(`{"handler": "oauth2_token", "repository": {"backend": "file"}}`)):                           "missing path of the definitions file",
		string(route(`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "postgres"}}`)):      "postgres: missing dsn",
		string(route(`{"handler": "oauth2_token", "repository": {"backend": "sql", "driver": "x", "dsn": "y"}}`)): `unknown driver "x"`,
		"oauth2_token": "reading config",
	} {
		_, err := configRepositories([]byte(config))
		assert.ErrorContains(t, err, want)
	}
	_, err := configRepositories(route(`{"handler": "oauth2_token", "repository": {"backend": "file", "path": "a.json", "tokens": {"driver": "x", "dsn": "y"}}}`))
	assert.ErrorContains(t, err, `tokens: unknown driver "x"`, "a definitions file's token store is located too")
}

// --repository takes the arguments of the Caddyfile's repository
// subdirective, parsed by the same parser; an unquoted DSN or path with
// spaces is the rest of the value, as it always was.
func TestRepositoryFromFlag(t *testing.T) {
	t.Setenv("OAUTH2_TEST_DB", "/var/lib/caddy/oauth2.db")
	// A definitions file's token state is the default database: the flag
	// takes no block to name another.
	driver, dsn := defaultSQLite()
	for spec, want := range map[string]manage.Location{
		"sql sqlite {env.OAUTH2_TEST_DB}":                    {Backend: "sql", Driver: "sqlite", DSN: "/var/lib/caddy/oauth2.db"},
		`  sql   postgres   "host=db user=caddy password=x"`: {Backend: "sql", Driver: "postgres", DSN: "host=db user=caddy password=x"},
		"sql postgres host=db user=caddy password=x":         {Backend: "sql", Driver: "postgres", DSN: "host=db user=caddy password=x"},
		"file /etc/my caddy/defs.json":                       {Backend: "file", Path: "/etc/my caddy/defs.json", TokenDriver: driver, TokenDSN: dsn},
		"file /etc/caddy/defs.json":                          {Backend: "file", Path: "/etc/caddy/defs.json", TokenDriver: driver, TokenDSN: dsn},
		`file "/etc/my caddy/defs.json"`:                     {Backend: "file", Path: "/etc/my caddy/defs.json", TokenDriver: driver, TokenDSN: dsn},
	} {
		got, err := repositoryFromFlag(spec)
		require.NoError(t, err, spec)
		assert.Equal(t, want, got, spec)
	}
	for _, spec := range []string{"", "sql", "sql postgres", "file", "json x.json", "postgres://u:s3cret@db/x",
		`sql postgres "host=db" password=s3cret`} {
		_, err := repositoryFromFlag(spec)
		require.Error(t, err, spec)
		assert.ErrorContains(t, err, `want "sql <driver> <dsn>" or "file <path>"`)
		assert.NotContains(t, err.Error(), "s3cret", "no DSN in errors")
	}
}
