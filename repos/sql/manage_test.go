package sql

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestPut_ReplacesExisting(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()

		require.NoError(t, s.PutClient(ctx, repos.Client{ID: "web", Name: "Old", Grants: []string{"password"}}))
		want := repos.Client{ID: "web", Name: "New", SecretHash: "$2a$04$x", Scopes: []string{}}
		require.NoError(t, s.PutClient(ctx, want))
		got, err := s.Client(ctx, "web")
		require.NoError(t, err)
		assert.Equal(t, &want, got, "grants went back to nil, scopes to empty")

		require.NoError(t, s.PutUser(ctx, repos.User{ID: "u-1", Username: "alice", PasswordHash: "old"}))
		wantUser := repos.User{ID: "u-1", Username: "alicia", PasswordHash: "new", Scopes: []string{"read"}}
		require.NoError(t, s.PutUser(ctx, wantUser))
		gotUser, err := s.UserByID(ctx, "u-1")
		require.NoError(t, err)
		assert.Equal(t, &wantUser, gotUser)
		_, err = s.UserByUsername(ctx, "alice")
		assert.ErrorIs(t, err, repos.ErrNotFound, "the old username is gone")

		require.NoError(t, s.PutScope(ctx, repos.Scope{ID: "read", Description: "old"}))
		require.NoError(t, s.PutScope(ctx, repos.Scope{ID: "read", Description: "Read access"}))
		gotScope, err := s.Scope(ctx, "read")
		require.NoError(t, err)
		assert.Equal(t, "Read access", gotScope.Description)
	})
}

func TestPutUser_UsernameTakenIsDuplicate(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		require.NoError(t, s.PutUser(t.Context(), repos.User{ID: "u-1", Username: "alice", PasswordHash: "h"}))
		err := s.PutUser(t.Context(), repos.User{ID: "u-2", Username: "alice", PasswordHash: "h"})
		assert.ErrorIs(t, err, repos.ErrDuplicate)
		_, err = s.UserByID(t.Context(), "u-2")
		assert.ErrorIs(t, err, repos.ErrNotFound)
	})
}

func TestPut_RejectsWhatTheColumnsCannotHold(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		tests := []struct {
			name string
			put  func() error
			want string
		}{
			{"client without id", func() error { return s.PutClient(t.Context(), repos.Client{}) }, "client: empty id"},
			{"grant with a space", func() error {
				return s.PutClient(t.Context(), repos.Client{ID: "c", Grants: []string{"pass word"}})
			}, `client: grants[0] "pass word" is empty or contains white space`},
			{"empty scope entry", func() error {
				return s.PutClient(t.Context(), repos.Client{ID: "c", Scopes: []string{"read", ""}})
			}, `client: scopes[1] "" is empty or contains white space`},
			{"default scope with a tab", func() error {
				return s.PutClient(t.Context(), repos.Client{ID: "c", DefaultScope: []string{"a\tb"}})
			}, `client: default_scope[0] "a\tb" is empty or contains white space`},
			{"user without id", func() error { return s.PutUser(t.Context(), repos.User{Username: "a"}) }, "user: empty id"},
			{"user without username", func() error { return s.PutUser(t.Context(), repos.User{ID: "u"}) }, "user: empty username"},
			{"user scope with no-break space", func() error {
				return s.PutUser(t.Context(), repos.User{ID: "u", Username: "a", Scopes: []string{"a\u00a0b"}})
			}, "user: scopes[0]"},
			{"scope without id", func() error { return s.PutScope(t.Context(), repos.Scope{}) }, "scope: empty id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.put()
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			})
		}
		_, err := s.Client(t.Context(), "c")
		assert.ErrorIs(t, err, repos.ErrNotFound, "nothing was stored")
	})
}

func TestDelete(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		require.NoError(t, s.PutClient(ctx, repos.Client{ID: "web"}))
		require.NoError(t, s.PutUser(ctx, repos.User{ID: "u-1", Username: "alice"}))
		require.NoError(t, s.PutScope(ctx, repos.Scope{ID: "read"}))

		tests := []struct {
			name   string
			delete func(id string) error
			id     string
			lookup func() error
		}{
			{"client", func(id string) error { return s.DeleteClient(ctx, id) }, "web",
				func() error { _, err := s.Client(ctx, "web"); return err }},
			{"user", func(id string) error { return s.DeleteUser(ctx, id) }, "u-1",
				func() error { _, err := s.UserByUsername(ctx, "alice"); return err }},
			{"scope", func(id string) error { return s.DeleteScope(ctx, id) }, "read",
				func() error { _, err := s.Scope(ctx, "read"); return err }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.NoError(t, tt.delete(tt.id))
				assert.ErrorIs(t, tt.lookup(), repos.ErrNotFound)
				assert.ErrorIs(t, tt.delete(tt.id), repos.ErrNotFound, "deleting again")
			})
		}
	})
}
