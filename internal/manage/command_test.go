package manage

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

var envPlaceholder = regexp.MustCompile(`\{env\.([A-Za-z0-9_]+)\}`)

// replaceEnv resolves {env.*} placeholders.
func replaceEnv(s string) string {
	return envPlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		return os.Getenv(envPlaceholder.FindStringSubmatch(m)[1])
	})
}

// testEnv stands in for the root package, which owns the repository's
// Caddyfile and JSON forms: a "config" is a JSON list of Locations, one per
// handler (an empty one is a handler without a repository, which gets a
// default in dir, and a definitions file without a token store gets that
// default as its token store); --repository is split on spaces with {env.*}
// resolved; and the hash is cheap.
func testEnv(dir string) Env {
	def := Location{Backend: BackendSQL, Driver: "sqlite", DSN: filepath.Join(dir, "default.db")}
	withDefaults := func(l Location) Location {
		switch {
		case l.Backend == "":
			return def
		case l.Backend == BackendFile && l.TokenDriver == "":
			l.TokenDriver, l.TokenDSN = def.Driver, def.DSN
		}
		return l
	}
	return Env{
		LoadConfig: func(file, _ string) ([]byte, error) {
			if file == "" {
				return nil, nil
			}
			return os.ReadFile(file)
		},
		Repositories: func(config []byte) ([]Location, error) {
			var handlers []Location
			if err := json.Unmarshal(config, &handlers); err != nil {
				return nil, err
			}
			for i, h := range handlers {
				handlers[i] = withDefaults(h)
			}
			return handlers, nil
		},
		ParseRepository: func(spec string) (Location, error) {
			backend, rest, _ := strings.Cut(replaceEnv(spec), " ")
			if backend == BackendFile {
				return withDefaults(Location{Backend: BackendFile, Path: rest}), nil
			}
			driver, dsn, _ := strings.Cut(rest, " ")
			return Location{Backend: backend, Driver: driver, DSN: dsn}, nil
		},
		Hash: testHash,
	}
}

// execute runs `caddy oauth2 args...` with stdin as its standard input.
func execute(t *testing.T, env Env, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "oauth2", SilenceUsage: true, SilenceErrors: true}
	Setup(root, env)
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// mustExecute runs a command that must succeed and returns its standard output.
func mustExecute(t *testing.T, env Env, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := execute(t, env, stdin, args...)
	require.NoError(t, err, "caddy oauth2 %s\n%s", strings.Join(args, " "), errOut)
	return out
}

func TestCommand_ClientLifecycle(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	db := filepath.Join(dir, "oauth2.db")
	repo := []string{"--repository", "sql sqlite " + db}
	run := func(args ...string) string { return mustExecute(t, env, "", append(args, repo...)...) }

	run("scope", "add", "read", "--description", "Read access")
	run("scope", "add", "write")
	secret := strings.TrimSpace(run("client", "add", "web", "--name", "Web app",
		"--grants", "password,refresh_token", "--scopes", "read write", "--default-scope", "read"))
	assert.Len(t, secret, 43)
	assert.Empty(t, run("client", "add", "cli", "--public", "--scopes", ""), "a public client has no secret")

	store, err := reposql.Open(t.Context(), "sqlite", db)
	require.NoError(t, err)
	defer store.Close()
	web, err := store.Client(t.Context(), "web")
	require.NoError(t, err)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(web.SecretHash), []byte(secret)))
	assert.Equal(t, []string{"password", "refresh_token"}, web.Grants)
	assert.Equal(t, []string{"read", "write"}, web.Scopes, "scopes separated by a space")
	cli, err := store.Client(t.Context(), "cli")
	require.NoError(t, err)
	assert.Equal(t, []string{}, cli.Scopes, `--scopes "" allows nothing`)
	assert.Nil(t, cli.Grants, "no --grants: every enabled grant")

	list := run("client", "list")
	assert.Regexp(t, `(?m)^cli\s+public\s+\(all enabled\)\s+\(none\)`, list)
	assert.Regexp(t, `(?m)^web\s+confidential\s+Web app\s+password,refresh_token\s+read,write\s+read$`, list)
	assert.Contains(t, run("client", "show", "web"), "confidential")

	rotated := strings.TrimSpace(run("client", "rotate-secret", "web"))
	assert.Len(t, rotated, 43)
	assert.NotEqual(t, secret, rotated)

	run("client", "remove", "web")
	_, stderr, err := execute(t, env, "", append([]string{"client", "remove", "web"}, repo...)...)
	assert.EqualError(t, err, `no client "web"`)
	assert.NotContains(t, stderr, "Removed")
}

func TestCommand_UserPasswordFromAPipe(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	path := filepath.Join(dir, "oauth2.json")
	repo := []string{"--repository", "file " + path}

	mustExecute(t, env, "", append([]string{"scope", "add", "read"}, repo...)...)
	mustExecute(t, env, "wonderland\n", append([]string{"user", "add", "alice", "--scopes", "read", "--id", "u-1001"}, repo...)...)
	defs, err := file.Load(path)
	require.NoError(t, err)
	alice, err := defs.UserByUsername(t.Context(), "alice")
	require.NoError(t, err)
	assert.Equal(t, "u-1001", alice.ID)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(alice.PasswordHash), []byte("wonderland")))

	_, stderr, err := execute(t, env, "looking-glass\r\n", append([]string{"user", "set-password", "alice"}, repo...)...)
	require.NoError(t, err)
	assert.Contains(t, stderr, "within a second", "a running Caddy notices a changed file by itself")
	defs, err = file.Load(path)
	require.NoError(t, err)
	alice, err = defs.UserByUsername(t.Context(), "alice")
	require.NoError(t, err)
	require.NoError(t, bcrypt.CompareHashAndPassword([]byte(alice.PasswordHash), []byte("looking-glass")))

	assert.Regexp(t, `(?m)^u-1001\s+alice\s+read$`, mustExecute(t, env, "", append([]string{"user", "list"}, repo...)...))

	_, _, err = execute(t, env, "", append([]string{"user", "add", "bob"}, repo...)...)
	assert.EqualError(t, err, "no password on the standard input")
	mustExecute(t, env, "", append([]string{"user", "remove", "alice"}, repo...)...)
	_, _, err = execute(t, env, "", append([]string{"user", "remove", "alice"}, repo...)...)
	assert.EqualError(t, err, `no user "alice"`)
}

func TestCommand_ScopeRemoveForce(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	repo := []string{"--repository", "sql sqlite " + filepath.Join(dir, "oauth2.db")}
	run := func(args ...string) (string, error) {
		_, stderr, err := execute(t, env, "", append(args, repo...)...)
		return stderr, err
	}
	_, err := run("scope", "add", "read")
	require.NoError(t, err)
	_, err = run("client", "add", "cli", "--public", "--scopes", "read")
	require.NoError(t, err)
	_, err = run("scope", "remove", "read")
	require.ErrorContains(t, err, "--force")
	stderr, err := run("scope", "remove", "read", "--force")
	require.NoError(t, err)
	assert.Contains(t, stderr, `took it out of 1 client ("cli")`)
	out := mustExecute(t, env, "", append([]string{"scope", "list"}, repo...)...)
	assert.Empty(t, out)
}

func TestCommand_RepositoryFromConfig(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	writeConfig := func(name, handlers string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(handlers), 0o600))
		return path
	}
	defs := filepath.Join(dir, "defs.json")

	fileConfig := writeConfig("file.json", `[{"Backend": "file", "Path": "`+defs+`"}]`)
	mustExecute(t, env, "", "scope", "add", "read", "--config", fileConfig)
	_, err := file.Load(defs)
	require.NoError(t, err, "the handler's definitions file was written")

	defaultConfig := writeConfig("default.json", `[{}]`)
	mustExecute(t, env, "", "scope", "add", "write", "-c", defaultConfig)
	assert.FileExists(t, filepath.Join(dir, "default.db"), "a handler without repository uses the default")

	twoConfig := writeConfig("two.json", `[{}, {"Backend": "file", "Path": "x.json"}]`)
	_, _, err = execute(t, env, "", "scope", "list", "--config", twoConfig)
	require.ErrorContains(t, err, "choose one with --repository")
	out := mustExecute(t, env, "", "scope", "list", "--config", twoConfig, "--repository", "file "+defs)
	assert.Contains(t, out, "read", "--repository settles it")
}

func TestCommand_Refused(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	repo := "sql sqlite " + filepath.Join(dir, "oauth2.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing id", []string{"client", "add", "-r", repo}, "missing <id> (usage: oauth2 client add <id>"},
		{"extra argument", []string{"client", "show", "a", "b", "-r", repo}, `unexpected argument "b"`},
		{"no arguments for list", []string{"scope", "list", "extra", "-r", repo}, `unexpected argument "extra"`},
		{"no config", []string{"client", "list"}, "no config: name the Caddyfile with --config, or the repository with --repository"},
		{"unknown driver", []string{"client", "list", "-r", "sql oracle u/s3cret@db"}, `unknown sql driver "oracle"`},
		{"unknown flag", []string{"client", "add", "x", "--secret", "s3cret", "-r", repo}, "unknown flag: --secret"},
		{"bits without rsa", []string{"keygen", "--bits", "4096", "-o", filepath.Join(dir, "k.pem")}, "--bits is for --type rsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := execute(t, env, "", tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error()+stdout+stderr, "s3cret")
		})
	}
}

func TestCommand_Keygen(t *testing.T) {
	t.Parallel() // the encrypted key's derivation is slow under the race detector
	dir := t.TempDir()
	env := testEnv(dir)
	out := filepath.Join(dir, "signing.pem")

	_, stderr, err := execute(t, env, "", "keygen", "--type", "ed25519", "--out", out)
	require.NoError(t, err)
	assert.Contains(t, stderr, "Wrote a signing key for EdDSA tokens")
	assert.Contains(t, stderr, "private_key "+out)
	assert.FileExists(t, filepath.Join(dir, "signing.pub.pem"))

	_, _, err = execute(t, env, "", "keygen", "--out", out)
	require.ErrorContains(t, err, "exists; use --force to replace it")

	_, stderr, err = execute(t, env, "correct horse\n", "keygen", "--out", out, "--force", "--encrypt")
	require.NoError(t, err)
	assert.Contains(t, stderr, "ES256")
	assert.Contains(t, stderr, "{env.OAUTH2_KEY_PASSPHRASE}")
	pemData, err := os.ReadFile(out)
	require.NoError(t, err)
	_, err = tokens.ParsePrivateKey(pemData, []byte("correct horse"))
	require.NoError(t, err, "the passphrase came from the pipe")

	_, _, err = execute(t, env, "", "keygen", "--out", filepath.Join(dir, "other.pem"), "--encrypt")
	require.EqualError(t, err, "no passphrase on the standard input")
}

func TestCommand_Revoke(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	db := filepath.Join(dir, "oauth2.db")
	repo := []string{"--repository", "sql sqlite " + db}
	run := func(stdin string, args ...string) (string, error) {
		_, stderr, err := execute(t, env, stdin, append(args, repo...)...)
		return stderr, err
	}
	_, err := run("wonderland\n", "user", "add", "alice", "--id", "u-1")
	require.NoError(t, err)
	_, err = run("", "client", "add", "web", "--grants", "password,refresh_token")
	require.NoError(t, err)
	tokens, err := reposql.Open(t.Context(), "sqlite", db)
	require.NoError(t, err)
	defer tokens.Close()

	first, second := grant(t, tokens, "web", "u-1"), grant(t, tokens, "web", "u-1")
	stderr, err := run("", "revoke", "--user", "u-1")
	require.NoError(t, err)
	assert.Contains(t, stderr, `Revoked 2 token families of user "alice" (id "u-1")`)
	assert.True(t, revoked(t, tokens, first))
	assert.True(t, revoked(t, tokens, second))

	for _, args := range [][]string{{"revoke"}, {"revoke", "--user", "u-1", "--client", "web"}} {
		_, err := run("", args...)
		assert.EqualError(t, err, "give --user <id> or --client <id>, one of them")
	}

	kept := grant(t, tokens, "web", "u-1")
	_, err = run("new\n", "user", "set-password", "alice", "--keep-tokens")
	require.NoError(t, err)
	assert.False(t, revoked(t, tokens, kept))
	stderr, err = run("", "client", "rotate-secret", "web")
	require.NoError(t, err)
	assert.Contains(t, stderr, `Revoked 1 token family of client "web"`)
	assert.True(t, revoked(t, tokens, kept))
}

func TestCommand_ClientUpdate(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	repo := []string{"--repository", "file " + filepath.Join(dir, "oauth2.json")}
	run := func(args ...string) error {
		_, _, err := execute(t, env, "", append(args, repo...)...)
		return err
	}
	require.NoError(t, run("scope", "add", "read"))
	require.NoError(t, run("client", "add", "web", "--scopes", "read", "--grants", "refresh_token", "--introspect"))
	require.NoError(t, run("client", "update", "web", "--name", "Web app", "--no-introspect", "--unrestrict", "scopes,grants"))
	show := mustExecute(t, env, "", append([]string{"client", "show", "web"}, repo...)...)
	assert.Contains(t, show, "name:           Web app\n")
	assert.Contains(t, show, "grants:         (all the directive enables)\n")
	assert.Contains(t, show, "scopes:         (all declared scopes)\n")
	assert.Contains(t, show, "introspect:     its own tokens only\n")

	require.NoError(t, run("client", "update", "web", "--introspect", "--grants", ""))
	show = mustExecute(t, env, "", append([]string{"client", "show", "web"}, repo...)...)
	assert.Contains(t, show, "grants:         (none)\n")
	assert.Contains(t, show, "introspect:     every token\n")

	for args, want := range map[string]string{
		"":                                      "nothing to change",
		"--introspect --no-introspect":          "--introspect and --no-introspect: give one of them",
		"--unrestrict grants --grants password": "--unrestrict grants and --grants: give one of them",
		"--unrestrict name":                     `--unrestrict: unknown list "name"`,
	} {
		err := run(append([]string{"client", "update", "web"}, strings.Fields(args)...)...)
		assert.ErrorContains(t, err, want, args)
	}
}

// A definitions file's tokens are revoked in the token database its handler
// names, which the command says it uses.
func TestCommand_RevokeInTheTokenStoreOfAFile(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	defs, db := filepath.Join(dir, "defs.json"), filepath.Join(dir, "tokens.db")
	cfg := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`[{"Backend": "file", "Path": "`+defs+`", "TokenDriver": "sqlite", "TokenDSN": "`+db+`"}]`), 0o600))
	mustExecute(t, env, "", "client", "add", "web", "--config", cfg)

	tokens, err := reposql.Open(t.Context(), "sqlite", db)
	require.NoError(t, err)
	defer tokens.Close()
	r := grant(t, tokens, "web", "")
	_, stderr, err := execute(t, env, "", "revoke", "--client", "web", "--config", cfg)
	require.NoError(t, err)
	assert.Contains(t, stderr, "Using the definitions file "+defs+".\nRevoking tokens in the sqlite database "+db+".\n")
	assert.True(t, revoked(t, tokens, r))
	assert.NoFileExists(t, filepath.Join(dir, "default.db"), "nor is the default token database touched")
}
