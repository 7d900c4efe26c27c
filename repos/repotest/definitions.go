package repotest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func runDefinitions(t *testing.T, newBackend NewBackend) {
	t.Run("LookupsReturnFixture", func(t *testing.T) {
		defs, _ := newBackend(t, fixture())
		want := fixture()
		for _, c := range want.Clients {
			got, err := defs.Client(t.Context(), c.ID)
			require.NoError(t, err, "client %s", c.ID)
			assert.Equal(t, &c, got)
		}
		for _, u := range want.Users {
			got, err := defs.UserByUsername(t.Context(), u.Username)
			require.NoError(t, err, "username %s", u.Username)
			assert.Equal(t, &u, got)
			got, err = defs.UserByID(t.Context(), u.ID)
			require.NoError(t, err, "user %s", u.ID)
			assert.Equal(t, &u, got)
		}
		for _, s := range want.Scopes {
			got, err := defs.Scope(t.Context(), s.ID)
			require.NoError(t, err, "scope %s", s.ID)
			assert.Equal(t, &s, got)
		}
	})

	t.Run("UnknownIDsAreNotFound", func(t *testing.T) {
		defs, _ := newBackend(t, fixture())
		lookups := map[string]func() error{
			"client": func() error { _, err := defs.Client(t.Context(), "nobody"); return err },
			// A user id is not a username, and a username is not an id.
			"username": func() error { _, err := defs.UserByUsername(t.Context(), "u-1001"); return err },
			"user id":  func() error { _, err := defs.UserByID(t.Context(), "alice"); return err },
			"scope":    func() error { _, err := defs.Scope(t.Context(), "READ"); return err },
			"empty id": func() error { _, err := defs.Client(t.Context(), ""); return err },
		}
		for name, lookup := range lookups {
			assert.ErrorIs(t, lookup(), repos.ErrNotFound, name)
		}
	})

	// A client id or username comes from the request, so it may be any
	// bytes: ones a database refuses to compare (PostgreSQL rejects a NUL
	// or invalid UTF-8) must be unknown, not a failure that answers 500.
	t.Run("KeysNoDatabaseCanHoldAreNotFound", func(t *testing.T) {
		defs, _ := newBackend(t, fixture())
		for _, key := range []string{"web\x00", "a\x00b", "\xff\xfe", "web\xc3"} {
			_, err := defs.Client(t.Context(), key)
			assert.ErrorIs(t, err, repos.ErrNotFound, "client %q", key)
			_, err = defs.UserByUsername(t.Context(), key)
			assert.ErrorIs(t, err, repos.ErrNotFound, "username %q", key)
			_, err = defs.UserByID(t.Context(), key)
			assert.ErrorIs(t, err, repos.ErrNotFound, "user id %q", key)
			_, err = defs.Scope(t.Context(), key)
			assert.ErrorIs(t, err, repos.ErrNotFound, "scope %q", key)
		}
	})

	t.Run("NilAndEmptyListsDiffer", func(t *testing.T) {
		defs, _ := newBackend(t, fixture())

		public, err := defs.Client(t.Context(), "public")
		require.NoError(t, err)
		assert.Nil(t, public.Grants, "grants")
		assert.Nil(t, public.Scopes, "scopes")
		assert.Nil(t, public.DefaultScope, "default_scope")
		assert.False(t, public.Confidential())

		locked, err := defs.Client(t.Context(), "locked")
		require.NoError(t, err)
		for name, l := range map[string][]string{"grants": locked.Grants, "scopes": locked.Scopes, "default_scope": locked.DefaultScope} {
			assert.NotNil(t, l, name)
			assert.Empty(t, l, name)
		}

		bob, err := defs.UserByUsername(t.Context(), "bob")
		require.NoError(t, err)
		assert.Nil(t, bob.Scopes)
		carol, err := defs.UserByUsername(t.Context(), "carol")
		require.NoError(t, err)
		assert.NotNil(t, carol.Scopes)
		assert.Empty(t, carol.Scopes)
	})

	t.Run("LookupsReturnCopies", func(t *testing.T) {
		defs, _ := newBackend(t, fixture())

		c, err := defs.Client(t.Context(), "web")
		require.NoError(t, err)
		c.Name, c.Grants[0], c.Scopes[0], c.DefaultScope[0] = "changed", "changed", "changed", "changed"
		u, err := defs.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		u.ID, u.Scopes[0] = "changed", "changed"
		s, err := defs.Scope(t.Context(), "read")
		require.NoError(t, err)
		s.Description = "changed"

		want := fixture()
		c, err = defs.Client(t.Context(), "web")
		require.NoError(t, err)
		assert.Equal(t, &want.Clients[0], c)
		u, err = defs.UserByID(t.Context(), "u-1001")
		require.NoError(t, err)
		assert.Equal(t, &want.Users[0], u)
		s, err = defs.Scope(t.Context(), "read")
		require.NoError(t, err)
		assert.Equal(t, &want.Scopes[0], s)
	})
}
