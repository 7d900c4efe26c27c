package repotest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// runCatalog checks the summary an authorization server's metadata is made
// from.
func runCatalog(t *testing.T, newBackend NewBackend) {
	catalog := func(t *testing.T, f Fixture) repos.Catalog {
		defs, _ := newBackend(t, f)
		c, ok := defs.(repos.Catalog)
		require.True(t, ok, "%T does not implement repos.Catalog", defs)
		return c
	}
	t.Run("ListsScopesSorted", func(t *testing.T) {
		ids, err := catalog(t, fixture()).ScopeIDs(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"admin", "read", "write"}, ids)
	})
	t.Run("NoScopesIsEmptyNotNil", func(t *testing.T) {
		ids, err := catalog(t, Fixture{}).ScopeIDs(t.Context())
		require.NoError(t, err)
		assert.NotNil(t, ids)
		assert.Empty(t, ids)
	})
	t.Run("SamplesAUsersHash", func(t *testing.T) {
		f := fixture()
		hash, err := catalog(t, f).UserPasswordHash(t.Context())
		require.NoError(t, err)
		var hashes []string
		for _, u := range f.Users {
			hashes = append(hashes, u.PasswordHash)
		}
		assert.Contains(t, hashes, hash)

		none, err := catalog(t, Fixture{}).UserPasswordHash(t.Context())
		require.NoError(t, err)
		assert.Empty(t, none, "no users, no hash")
	})
	t.Run("ReportsPublicClients", func(t *testing.T) {
		has, err := catalog(t, fixture()).HasPublicClients(t.Context())
		require.NoError(t, err)
		assert.True(t, has, "the fixture's client public has no secret")

		confidentialOnly := fixture()
		var kept []repos.Client
		for _, c := range confidentialOnly.Clients {
			if c.Confidential() {
				kept = append(kept, c)
			}
		}
		confidentialOnly.Clients = kept
		has, err = catalog(t, confidentialOnly).HasPublicClients(t.Context())
		require.NoError(t, err)
		assert.False(t, has)
	})
}
