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
		require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "alice", Scopes: []string{"read"}}, password("wonderland")))
		require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "bob", ID: "u-1002"}, password("builder")))
		assert.Empty(t, f.out.String())
		assert.NotContains(t, f.err.String(), "wonderland")

		alice, err := f.Store.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		assert.Regexp(t, uuidV4, alice.ID, "a generated id is a random UUID")
		assert.Equal(t, []string{"read"}, alice.Scopes)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(alice.PasswordHash), []byte("wonderland")))
		assert.Contains(t, f.err.String(), `Added user "alice" with id "`+alice.ID+`".`)

		bob, err := f.Store.UserByID(t.Context(), "u-1002")
		require.NoError(t, err)
		assert.Equal(t, "bob", bob.Username)
		assert.Nil(t, bob.Scopes, "no --scopes: every scope")
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.ListUsers(t.Context()))
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
		spec     UserSpec
		password PasswordFunc
		want     string
	}{
		{"username taken", UserSpec{Username: "alice"}, password("x"), `user "alice" already exists`},
		{"id taken", UserSpec{Username: "bob", ID: "u-1"}, password("x"), `another user has the id "u-1"`},
		{"empty username", UserSpec{}, password("x"), "username is empty"},
		{"control character", UserSpec{Username: "a\x00b"}, password("x"), "control characters"},
		{"unknown scope", UserSpec{Username: "bob", Scopes: []string{"nope"}}, password("x"), `unknown scope "nope"`},
		{"empty password", UserSpec{Username: "bob"}, password(""), "the password is empty"},
		{"unreadable password", UserSpec{Username: "bob"}, func() ([]byte, error) { return nil, errors.New("no tty") }, "no tty"},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "alice", ID: "u-1"}, password("wonderland")))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := f.AddUser(t.Context(), tt.spec, tt.password)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
			})
		}
		users, err := f.Store.ListUsers(t.Context())
		require.NoError(t, err)
		assert.Len(t, users, 1, "nothing was stored")
	})
}

// TestManageUser_NoPromptForARefusedUser: nobody types a password for a
// command that fails anyway.
func TestManageUser_NoPromptForARefusedUser(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "alice"}, password("x")))
	asked := false
	ask := func() ([]byte, error) { asked = true; return []byte("x"), nil }
	require.Error(t, f.AddUser(t.Context(), UserSpec{Username: "alice"}, ask))
	require.Error(t, f.SetUserPassword(t.Context(), "nobody", ask))
	assert.False(t, asked)
}

func TestManageUser_SetPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "alice", ID: "u-1", Scopes: []string{"read"}}, password("old")))
		require.NoError(t, f.SetUserPassword(t.Context(), "alice", password("new")))
		u, err := f.Store.UserByUsername(t.Context(), "alice")
		require.NoError(t, err)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("new")))
		assert.Error(t, bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("old")))
		assert.Equal(t, "u-1", u.ID)
		assert.Equal(t, []string{"read"}, u.Scopes, "only the password changed")
		f.checkFile(t)

		err = f.SetUserPassword(t.Context(), "nobody", password("x"))
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no user "nobody"`)
		assert.EqualError(t, f.SetUserPassword(t.Context(), "alice", password("")), "the password is empty")
	})
}

func TestManageUser_Remove(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddUser(t.Context(), UserSpec{Username: "alice", ID: "u-1"}, password("x")))
		f.reset()
		require.NoError(t, f.RemoveUser(t.Context(), "alice"))
		assert.Contains(t, f.err.String(), `Removed user "alice" (id "u-1").`)
		_, err := f.Store.UserByID(t.Context(), "u-1")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		f.checkFile(t)

		assert.EqualError(t, f.RemoveUser(t.Context(), "alice"), `no user "alice"`)
	})
}

func TestManageUser_ListEmpty(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.ListUsers(t.Context()))
	assert.Empty(t, f.out.String())
	assert.Equal(t, "No users.\n", f.err.String())
}
