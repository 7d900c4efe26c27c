package manage

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestManageUser_Add(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", scopes: []string{"read"}}, fixedPassword("wonderland")))
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "bob", id: "u-1002"}, fixedPassword("builder")))
		assert.Empty(t, f.out.String())
		assert.NotContains(t, f.err.String(), "wonderland")

		alice, err := f.store.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		assert.Regexp(t, uuidV4, alice.ID, "a generated id is a random UUID")
		assert.Equal(t, []string{"read"}, alice.Scopes)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(alice.PasswordHash), []byte("wonderland")))
		assert.Contains(t, f.err.String(), `Added user "alice" with id "`+alice.ID+`".`)

		bob, err := f.store.UserByID(t.Context(), "u-1002")
		require.NoError(t, err)
		assert.Equal(t, "bob", bob.Username)
		assert.Nil(t, bob.Scopes, "no --scopes: every scope")
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.listUsers(t.Context()))
		lines := strings.Split(strings.TrimSpace(f.out.String()), "\n")
		require.Len(t, lines, 3)
		assert.Regexp(t, `^ID\s+USERNAME\s+SCOPES$`, lines[0])
		assert.NotContains(t, f.out.String(), "$2a$", "no hashes in the listing")
	})
}

func TestManageUser_GeneratedIDsDiffer(t *testing.T) {
	a, b := newUserID(), newUserID()
	assert.Regexp(t, uuidV4, a)
	assert.NotEqual(t, a, b)
}

func TestManageUser_AddRefused(t *testing.T) {
	tests := []struct {
		name     string
		spec     userSpec
		password passwordFunc
		want     string
	}{
		{"username taken", userSpec{username: "alice"}, fixedPassword("x"), `user "alice" already exists`},
		{"id taken", userSpec{username: "bob", id: "u-1"}, fixedPassword("x"), `another user has the id "u-1"`},
		{"empty username", userSpec{}, fixedPassword("x"), "username is empty"},
		{"username too long for the token store", userSpec{username: strings.Repeat("u", repos.MaxIDLength+1)}, fixedPassword("x"), "username is longer than 255 bytes"},
		{"user id too long for the token store", userSpec{username: "bob", id: strings.Repeat("u", repos.MaxIDLength+1)}, fixedPassword("x"), "id is longer than 255 bytes"},
		{"control character", userSpec{username: "a\x00b"}, fixedPassword("x"), "control characters"},
		{"unknown scope", userSpec{username: "bob", scopes: []string{"nope"}}, fixedPassword("x"), `unknown scope "nope"`},
		{"empty password", userSpec{username: "bob"}, fixedPassword(""), "the password is empty"},
		{"unreadable password", userSpec{username: "bob"}, func() ([]byte, error) { return nil, errors.New("no tty") }, "no tty"},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", id: "u-1"}, fixedPassword("wonderland")))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := f.addUser(t.Context(), tt.spec, tt.password)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			})
		}
		users, err := f.store.ListUsers(t.Context())
		require.NoError(t, err)
		assert.Len(t, users, 1, "nothing was stored")
	})
}

// TestManageUser_NoPromptForARefusedUser: nobody types a password for a
// command that fails anyway.
func TestManageUser_NoPromptForARefusedUser(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice"}, fixedPassword("x")))
	asked := false
	ask := func() ([]byte, error) { asked = true; return []byte("x"), nil }
	require.Error(t, f.addUser(t.Context(), userSpec{username: "alice"}, ask))
	require.Error(t, f.setUserPassword(t.Context(), "nobody", ask, false))
	assert.False(t, asked)
}

func TestManageUser_SetPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", id: "u-1", scopes: []string{"read"}}, fixedPassword("old")))
		require.NoError(t, f.setUserPassword(t.Context(), "alice", fixedPassword("new"), false))
		u, err := f.store.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("new")))
		assert.Error(t, bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("old")))
		assert.Equal(t, "u-1", u.ID)
		assert.Equal(t, []string{"read"}, u.Scopes, "only the password changed")
		f.checkFile(t)

		err = f.setUserPassword(t.Context(), "nobody", fixedPassword("x"), false)
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no user "nobody"`)
		assert.EqualError(t, f.setUserPassword(t.Context(), "alice", fixedPassword(""), false), "the password is empty")
	})
}

func TestManageUser_Remove(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", id: "u-1"}, fixedPassword("x")))
		f.reset()
		require.NoError(t, f.removeUser(t.Context(), "alice", false))
		assert.Contains(t, f.err.String(), `Removed user "alice" (id "u-1").`)
		_, err := f.store.UserByID(t.Context(), "u-1")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		f.checkFile(t)

		assert.EqualError(t, f.removeUser(t.Context(), "alice", false), `no user "alice"`)
	})
}

func TestManageUser_ListEmpty(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.listUsers(t.Context()))
	assert.Empty(t, f.out.String())
	assert.Equal(t, "No users.\n", f.err.String())
}
