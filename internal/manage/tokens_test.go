package manage

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

// openTokens opens the fixture's token state as Caddy would, creating it.
func (f *fixture) openTokens(t *testing.T) *reposql.Store {
	t.Helper()
	loc, err := f.loc.tokenLocation()
	require.NoError(t, err)
	s, err := reposql.Open(t.Context(), loc.Driver, loc.DSN)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// grant records a fresh token family of client and user, as a login does, and
// returns its refresh token.
func grant(t *testing.T, s *reposql.Store, client, user string) repos.RefreshToken {
	t.Helper()
	r := repos.RefreshToken{ID: rand.Text(), FamilyID: rand.Text(), ClientID: client, UserID: user,
		ExpiresAt: time.Now().Add(time.Hour), AccessTokenID: rand.Text()}
	require.NoError(t, s.Issue(t.Context(), r))
	return r
}

// revoked reports whether r's family is revoked.
func revoked(t *testing.T, s *reposql.Store, r repos.RefreshToken) bool {
	t.Helper()
	_, revoked, err := s.RefreshTokenState(t.Context(), r.ID)
	require.NoError(t, err)
	return revoked
}

// users and clients adds the users alice (u-1) and bob (u-2), the
// confidential client web and the public client cli.
func (f *fixture) usersAndClients(t *testing.T) {
	t.Helper()
	require.NoError(t, f.addUser(t.Context(), userSpec{username: "alice", id: "u-1"}, fixedPassword("x")))
	require.NoError(t, f.addUser(t.Context(), userSpec{username: "bob", id: "u-2"}, fixedPassword("x")))
	require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web"}))
	require.NoError(t, f.addClient(t.Context(), clientSpec{id: "cli", public: true}))
	f.reset()
}

func TestManageRevoke_AUsersOrAClientsTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.usersAndClients(t)
		tokens := f.openTokens(t)
		aliceWeb, aliceCLI, bobWeb := grant(t, tokens, "web", "u-1"), grant(t, tokens, "cli", "u-1"), grant(t, tokens, "web", "u-2")

		require.NoError(t, f.revoke(t.Context(), repos.FamilyOwner{UserID: "u-1"}))
		assert.Contains(t, f.err.String(), `Revoked 2 token families of user "alice" (id "u-1")`)
		assert.True(t, revoked(t, tokens, aliceWeb))
		assert.True(t, revoked(t, tokens, aliceCLI))
		assert.False(t, revoked(t, tokens, bobWeb))
		if f.loc.Backend == BackendFile {
			assert.Contains(t, f.err.String(), "Revoking tokens in the sqlite database "+f.loc.TokenDSN+".")
		} else {
			assert.NotContains(t, f.err.String(), "Revoking tokens in", "a SQL repository is its own token state")
		}
		assert.Empty(t, f.out.String())

		f.reset()
		require.NoError(t, f.revoke(t.Context(), repos.FamilyOwner{ClientID: "web"}))
		assert.Contains(t, f.err.String(), `Revoked 1 token family of client "web"`, "alice's was revoked already")
		assert.True(t, revoked(t, tokens, bobWeb))

		f.reset()
		require.NoError(t, f.revoke(t.Context(), repos.FamilyOwner{ClientID: "web"}))
		assert.Contains(t, f.err.String(), `No tokens of client "web" to revoke.`)
	})
}

func TestManageRevoke_UnknownOwners(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.usersAndClients(t)
		tokens := f.openTokens(t)
		alice := grant(t, tokens, "web", "u-1")
		gone := grant(t, tokens, "gone", "u-gone")

		err := f.revoke(t.Context(), repos.FamilyOwner{UserID: "alice"})
		require.Error(t, err, "a username where the id belongs is the likely mistake")
		assert.Contains(t, err.Error(), `the user named "alice" has the id "u-1"`)
		assert.False(t, revoked(t, tokens, alice))

		// A removed user's or client's tokens can be revoked all the same.
		for _, by := range []repos.FamilyOwner{{UserID: "u-gone"}, {ClientID: "gone"}} {
			f.reset()
			require.NoError(t, f.revoke(t.Context(), by))
			assert.Contains(t, f.err.String(), "Warning: the repository has no")
		}
		assert.True(t, revoked(t, tokens, gone))
		assert.False(t, revoked(t, tokens, alice))
	})
}

// A definitions file whose token database does not exist has no tokens to
// revoke: revoke says so and fails, since the user may have named the wrong
// place; a change that revokes tokens warns and succeeds, since the change is
// made. Neither creates the database.
func TestManageRevoke_NoTokenState(t *testing.T) {
	f := newFixture(t, backends[1].loc(t.TempDir()))
	f.usersAndClients(t)

	err := f.revoke(t.Context(), repos.FamilyOwner{UserID: "u-1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "there is no sqlite database "+f.loc.TokenDSN)

	f.reset()
	require.NoError(t, f.setUserPassword(t.Context(), "alice", fixedPassword("new"), false))
	assert.Contains(t, f.err.String(), "Changed the password")
	assert.Contains(t, f.err.String(), "Warning: no tokens revoked: there is no sqlite database")
	assert.NoFileExists(t, f.loc.TokenDSN)
}

func TestManageRevoke_UnknownTokenState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oauth2.json")
	f := newFixture(t, Location{Backend: BackendFile, Path: path})
	f.usersAndClients(t)
	err := f.revoke(t.Context(), repos.FamilyOwner{UserID: "u-1"})
	assert.ErrorContains(t, err, `the token state of the definitions file `+path+` is unknown; name its database with --repository "sql <driver> <dsn>"`)

	err = f.removeUser(t.Context(), "alice", false)
	assert.ErrorContains(t, err, "the change itself is made; revoke with `caddy oauth2 revoke --user u-1`")
	_, err = f.store.UserByID(t.Context(), "u-1")
	assert.ErrorIs(t, err, repos.ErrNotFound, "the user is removed")
}

// A new password or secret, or a removal, ends access: the tokens issued
// before it are revoked with it, unless --keep-tokens.
func TestManage_ChangesThatEndAccessRevokeTokens(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *fixture, t *testing.T, keep bool) error
	}{
		{"user set-password", func(f *fixture, t *testing.T, keep bool) error {
			return f.setUserPassword(t.Context(), "alice", fixedPassword("new"), keep)
		}},
		{"user remove", func(f *fixture, t *testing.T, keep bool) error { return f.removeUser(t.Context(), "alice", keep) }},
		{"client rotate-secret", func(f *fixture, t *testing.T, keep bool) error {
			return f.rotateClientSecret(t.Context(), "web", keep)
		}},
		{"client remove", func(f *fixture, t *testing.T, keep bool) error { return f.removeClient(t.Context(), "web", keep) }},
	}
	for _, tt := range tests {
		for _, keep := range []bool{false, true} {
			name := tt.name
			if keep {
				name += " --keep-tokens"
			}
			t.Run(name, func(t *testing.T) {
				eachBackend(t, func(t *testing.T, f *fixture) {
					f.usersAndClients(t)
					tokens := f.openTokens(t)
					aliceWeb, bobCLI := grant(t, tokens, "web", "u-1"), grant(t, tokens, "cli", "u-2")

					require.NoError(t, tt.change(f, t, keep))
					assert.Equal(t, !keep, revoked(t, tokens, aliceWeb))
					assert.False(t, revoked(t, tokens, bobCLI), "another user's tokens, of another client")
					if keep {
						assert.Contains(t, f.err.String(), "were kept (--keep-tokens)")
					} else {
						assert.Contains(t, f.err.String(), "Revoked 1 token family of ")
					}
					f.checkFile(t)
				})
			})
		}
	}
}
