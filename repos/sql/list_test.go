package sql

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestList_Empty(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	clients, err := s.ListClients(t.Context())
	require.NoError(t, err)
	assert.Empty(t, clients)
	assert.NotNil(t, clients, "an empty table lists as an empty slice")
	users, err := s.ListUsers(t.Context())
	require.NoError(t, err)
	assert.Empty(t, users)
	scopes, err := s.ListScopes(t.Context())
	require.NoError(t, err)
	assert.Empty(t, scopes)
}

func TestList_OrderedByIDAndListsKeepTheirMeaning(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx := t.Context()

	// Stored out of order; nil (no restriction) and empty (nothing allowed)
	// lists must come back as they went in.
	clients := []repos.Client{
		{ID: "web", Name: "Web app", SecretHash: "$2a$04$x", Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}, DefaultScope: []string{"read"}, Introspect: true},
		{ID: "cli", Scopes: []string{}},
		{ID: "mobile", Name: "Mobile", Grants: []string{}},
	}
	for _, c := range clients {
		require.NoError(t, s.PutClient(ctx, c))
	}
	users := []repos.User{
		{ID: "u-2", Username: "bob", PasswordHash: "h2"},
		{ID: "u-1", Username: "alice", PasswordHash: "h1", Scopes: []string{"read"}},
		{ID: "u-3", Username: "carol", PasswordHash: "h3", Scopes: []string{}},
	}
	for _, u := range users {
		require.NoError(t, s.PutUser(ctx, u))
	}
	for _, sc := range []repos.Scope{{ID: "write"}, {ID: "read", Description: "Read access"}} {
		require.NoError(t, s.PutScope(ctx, sc))
	}

	tests := []struct {
		name string
		list func() (any, error)
		want any
	}{
		{"clients", func() (any, error) { return s.ListClients(ctx) },
			[]repos.Client{clients[1], clients[2], clients[0]}},
		{"users", func() (any, error) { return s.ListUsers(ctx) },
			[]repos.User{users[1], users[0], users[2]}},
		{"scopes", func() (any, error) { return s.ListScopes(ctx) },
			[]repos.Scope{{ID: "read", Description: "Read access"}, {ID: "write"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.list()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestList_ClosedStore(t *testing.T) {
	s, err := Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.ListClients(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listing clients")
}
