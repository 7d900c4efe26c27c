package sql

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/repotest"
)

func TestConformance_SQLite(t *testing.T) {
	repotest.Run(t, func(t *testing.T, f repotest.Fixture) (repos.Definitions, repos.TokenStore) {
		s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
		seed(t, s, f)
		return s, s
	})
}

// openSQLite opens a store on the file and closes it when the test ends.
func openSQLite(t testing.TB, file string) *Store {
	t.Helper()
	s, err := Open(t.Context(), "sqlite", file)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// seed stores the fixture's definitions.
func seed(t *testing.T, s *Store, f repotest.Fixture) {
	t.Helper()
	for _, sc := range f.Scopes {
		require.NoError(t, s.PutScope(t.Context(), sc))
	}
	for _, c := range f.Clients {
		require.NoError(t, s.PutClient(t.Context(), c))
	}
	for _, u := range f.Users {
		require.NoError(t, s.PutUser(t.Context(), u))
	}
}
