package manage

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestManageScope_AddAndList(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addScope(t.Context(), "write", ""))
		require.NoError(t, f.addScope(t.Context(), "read", "Read access"))
		require.NoError(t, f.addScope(t.Context(), "api:admin/all", ""))
		assert.Contains(t, f.err.String(), `Added scope "read".`)
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.listScopes(t.Context()))
		assert.Equal(t, strings.Join([]string{
			"ID             DESCRIPTION",
			"api:admin/all  ",
			"read           Read access",
			"write          ",
			"",
		}, "\n"), f.out.String())
	})
}

func TestManageScope_AddRefused(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{"exists", "read", `scope "read" already exists`},
		{"empty", "", "printable ASCII"},
		{"space", "read write", "printable ASCII"},
		{"quote", `a"b`, "printable ASCII"},
		{"backslash", `a\b`, "printable ASCII"},
		{"non-ASCII", "lesen-ü", "printable ASCII"},
		{"too long", strings.Repeat("s", 129), "longer than 128 bytes"},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := f.addScope(t.Context(), tt.id, "")
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			})
		}
		scopes, err := f.store.ListScopes(t.Context())
		require.NoError(t, err)
		assert.Len(t, scopes, 1)
	})
}

func TestManageScope_Remove(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.removeScope(t.Context(), "read", false))
		_, err := f.store.Scope(t.Context(), "read")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		f.checkFile(t)
		assert.EqualError(t, f.removeScope(t.Context(), "read", false), `no scope "read"`)
	})
}

func TestManageScope_RemoveNamedScope(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read", "write")
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web", public: true, scopes: []string{"read", "write"}, defaultScope: []string{"read"}}))
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "narrow", public: true, scopes: []string{"read"}}))
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "open", public: true}))
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", id: "u-1", scopes: []string{"read"}}, fixedPassword("x")))

		err := f.removeScope(t.Context(), "read", false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `scope "read" is still named by 2 clients ("narrow", "web") and 1 user ("alice")`)
		_, err = f.store.Scope(t.Context(), "read")
		require.NoError(t, err, "the scope is kept")

		f.reset()
		require.NoError(t, f.removeScope(t.Context(), "read", true))
		assert.Contains(t, f.err.String(), `Removed scope "read", and took it out of 2 clients ("narrow", "web") and 1 user ("alice").`)
		f.checkFile(t)

		web, err := f.store.Client(t.Context(), "web")
		require.NoError(t, err)
		assert.Equal(t, []string{"write"}, web.Scopes)
		assert.Equal(t, []string{}, web.DefaultScope)
		narrow, err := f.store.Client(t.Context(), "narrow")
		require.NoError(t, err)
		assert.Equal(t, []string{}, narrow.Scopes, "an emptied list allows nothing, it does not become unrestricted")
		open, err := f.store.Client(t.Context(), "open")
		require.NoError(t, err)
		assert.Nil(t, open.Scopes, "an unrestricted client is untouched")
		alice, err := f.store.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		assert.Equal(t, []string{}, alice.Scopes)
	})
}

func TestManageScope_ListEmpty(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.listScopes(t.Context()))
	assert.Empty(t, f.out.String())
	assert.Equal(t, "No scopes.\n", f.err.String())
}
