package file

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/repotest"
	sqlstore "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

// TestConformance_FileWithSQLite is `repository file`: definitions from JSON,
// token state in SQLite.
func TestConformance_FileWithSQLite(t *testing.T) {
	conformance(t, func(path string) (repos.Definitions, error) { return Load(path) })
}

// TestConformance_WatchedFileWithSQLite is the same with a file that is
// watched for changes.
func TestConformance_WatchedFileWithSQLite(t *testing.T) {
	conformance(t, func(path string) (repos.Definitions, error) { return LoadWatched(path) })
}

// conformance runs the repos conformance suite on definitions loaded from a
// file by load and token state in SQLite.
func conformance(t *testing.T, load func(path string) (repos.Definitions, error)) {
	t.Helper()
	repotest.Run(t, func(t *testing.T, f repotest.Fixture) (repos.Definitions, repos.TokenStore) {
		dir := t.TempDir()
		path := filepath.Join(dir, "clients.json")
		require.NoError(t, os.WriteFile(path, fixtureJSON(t, f), 0o600))
		defs, err := load(path)
		require.NoError(t, err)

		store, err := sqlstore.Open(t.Context(), "sqlite", filepath.Join(dir, "oauth2.db"))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, store.Close()) })
		return defs, store
	})
}

// fixtureJSON writes the fixture as a definitions file. repos.Client's own
// JSON encoding omits empty lists, which would turn "nothing allowed" into
// "no restriction", so lists are written whenever they are not nil.
func fixtureJSON(t *testing.T, f repotest.Fixture) []byte {
	t.Helper()
	lists := func(m map[string]any, fields map[string][]string) map[string]any {
		for k, v := range fields {
			if v != nil {
				m[k] = v
			}
		}
		return m
	}
	var clients, users []map[string]any
	for _, c := range f.Clients {
		clients = append(clients, lists(
			map[string]any{"id": c.ID, "name": c.Name, "secret_hash": c.SecretHash, "introspect": c.Introspect},
			map[string][]string{"grants": c.Grants, "scopes": c.Scopes, "default_scope": c.DefaultScope}))
	}
	for _, u := range f.Users {
		users = append(users, lists(
			map[string]any{"id": u.ID, "username": u.Username, "password_hash": u.PasswordHash},
			map[string][]string{"scopes": u.Scopes}))
	}
	data, err := json.MarshalIndent(map[string]any{"scopes": f.Scopes, "clients": clients, "users": users}, "", "  ")
	require.NoError(t, err)
	return data
}
