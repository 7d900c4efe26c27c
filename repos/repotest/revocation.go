package repotest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// runRevocation checks what the revocation and introspection endpoints and
// the operators' commands ask of a store: the state of an access token, the
// denial of one of no family, and the revocation of every family of a client
// or a user.
func runRevocation(t *testing.T, newBackend NewBackend) {
	t.Run("AccessTokenState", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r := tk.issue()
		state, err := tk.store.AccessToken(t.Context(), r.AccessTokenID)
		require.NoError(t, err)
		assert.Equal(t, repos.AccessTokenState{FamilyID: r.FamilyID}, state)

		require.NoError(t, tk.store.RevokeFamily(t.Context(), r.FamilyID))
		state, err = tk.store.AccessToken(t.Context(), r.AccessTokenID)
		require.NoError(t, err)
		assert.Equal(t, repos.AccessTokenState{FamilyID: r.FamilyID, Revoked: true}, state)
	})

	t.Run("DenyAccessToken", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		other := tk.issue()
		jti := newID("at")
		tk.assertAccessAbsent(jti)

		require.NoError(t, tk.store.DenyAccessToken(t.Context(), jti, now.Add(time.Hour)))
		state, err := tk.store.AccessToken(t.Context(), jti)
		require.NoError(t, err)
		assert.Equal(t, repos.AccessTokenState{Revoked: true}, state, "a denied jti has no family")

		require.NoError(t, tk.store.DenyAccessToken(t.Context(), jti, now.Add(time.Hour)), "again")
		state, err = tk.store.AccessToken(t.Context(), jti)
		require.NoError(t, err)
		assert.True(t, state.Revoked)
		tk.assertAccess(other.AccessTokenID, false)
		tk.assertRefresh(other.ID, false, false)
	})

	t.Run("RevokeFamiliesOfAUserOrAClient", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		// owned issues a chain of n tokens of a new family of client and user.
		owned := func(client, user string, n int) []repos.RefreshToken {
			first := newRefresh(newID("family"))
			first.ClientID, first.UserID = client, user
			require.NoError(t, tk.store.Issue(t.Context(), first))
			chain := []repos.RefreshToken{first}
			for len(chain) < n {
				next := newRefresh(first.FamilyID)
				next.ClientID, next.UserID = client, user
				require.NoError(t, tk.rotate(chain[len(chain)-1].ID, now, next))
				chain = append(chain, next)
			}
			return chain
		}
		aliceWeb := owned("web", "u-1001", 3)
		aliceWeb2 := owned("web", "u-1001", 1)
		alicePublic := owned("public", "u-1001", 2)
		bobWeb := owned("web", "u-1002", 2)
		service := owned("locked", "", 1) // no user: client_credentials-like
		live := func(chain []repos.RefreshToken) repos.RefreshToken { return chain[len(chain)-1] }

		tests := []struct {
			name    string
			by      repos.FamilyOwner
			want    int
			revoked [][]repos.RefreshToken // revoked after this step, cumulatively
		}{
			{"a user's, of every client", repos.FamilyOwner{UserID: "u-1001"}, 3, [][]repos.RefreshToken{aliceWeb, aliceWeb2, alicePublic}},
			{"again: none left to revoke", repos.FamilyOwner{UserID: "u-1001"}, 0, nil},
			{"a client's, less those revoked already", repos.FamilyOwner{ClientID: "web"}, 1, [][]repos.RefreshToken{bobWeb}},
			{"an unknown user", repos.FamilyOwner{UserID: "nobody"}, 0, nil},
		}
		var revoked [][]repos.RefreshToken
		for _, tt := range tests {
			n, err := tk.store.RevokeFamilies(t.Context(), tt.by)
			require.NoError(t, err, tt.name)
			assert.Equal(t, tt.want, n, tt.name)
			revoked = append(revoked, tt.revoked...)
			for _, chain := range revoked {
				tk.assertRefresh(live(chain).ID, false, true)
				tk.assertAccess(chain[0].AccessTokenID, true)
			}
		}
		tk.assertRefresh(service[0].ID, false, false)
		tk.assertAccess(service[0].AccessTokenID, false)
		require.NoError(t, tk.rotate(service[0].ID, now, func() repos.RefreshToken {
			next := newRefresh(service[0].FamilyID)
			next.ClientID, next.UserID = "locked", ""
			return next
		}()), "another client's family lives on")

		for _, by := range []repos.FamilyOwner{{}, {ClientID: "web", UserID: "u-1002"}} {
			_, err := tk.store.RevokeFamilies(t.Context(), by)
			assert.Error(t, err, "%+v names no single owner", by)
		}
	})
}
