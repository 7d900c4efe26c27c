package grants_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestPassword_IssuesAccessAndRefreshTokenForTheUser(t *testing.T) {
	e := newEnv(t)
	resp := e.login(t, "read write")

	c := e.claims(t, resp.AccessToken)
	assert.Equal(t, "u-alice", c.Subject)
	assert.Equal(t, "web", c.ClientID)
	assert.Equal(t, []string{"read", "write"}, c.Scopes)

	p := e.payload(t, resp.RefreshToken)
	assert.Equal(t, "u-alice", p.UserID)
	assert.Equal(t, "web", p.ClientID)
	assert.Equal(t, []string{"read", "write"}, p.Scopes)

	// Both are recorded, the access token with the refresh token.
	state, err := e.store.AccessToken(context.Background(), c.ID)
	require.NoError(t, err)
	assert.False(t, state.Revoked)
	used, revokedRT := e.refreshState(t, resp.RefreshToken)
	assert.False(t, used)
	assert.False(t, revokedRT)
}

func TestPassword_EachLoginStartsANewFamily(t *testing.T) {
	e := newEnv(t)
	a := e.payload(t, e.login(t, "read").RefreshToken)
	b := e.payload(t, e.login(t, "read").RefreshToken)
	assert.NotEqual(t, a.FamilyID, b.FamilyID)
	assert.NotEqual(t, a.ID, b.ID)
}

func TestPassword_RefreshTokenOnlyWhenClientAndServerAllowIt(t *testing.T) {
	tests := []struct {
		name        string
		grants      []string
		client      string
		secret      string
		wantRefresh bool
	}{
		{"client with every grant", nil, "web", webSecret, true},
		{"public client allowed refresh_token", nil, "spa", "", true},
		{"client not allowed refresh_token", nil, "norefresh", webSecret, false},
		{"refresh_token not enabled on the server", []string{repos.GrantPassword}, "web", webSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *grants.Config) {
				if tt.grants != nil {
					c.Grants = tt.grants
				}
			})
			resp := e.mustToken(t, passwordRequest(tt.client, tt.secret, "alice", alicePassword, "read"))
			assert.Equal(t, tt.wantRefresh, resp.RefreshToken != "")

			// The access token is recorded with its refresh token, so that a
			// replay can revoke it; without one it belongs to no family and
			// is not recorded at all.
			state, err := e.store.AccessToken(context.Background(), e.claims(t, resp.AccessToken).ID)
			if tt.wantRefresh {
				require.NoError(t, err)
				assert.False(t, state.Revoked)
			} else {
				assert.ErrorIs(t, err, repos.ErrNotFound, "an access token of no family is not recorded")
			}
		})
	}
}

func TestPassword_Failures(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name               string
		username, password string
		code, hint         string
	}{
		{"missing username", "", alicePassword, grants.CodeInvalidRequest, "Check the `username` parameter"},
		{"missing password", "alice", "", grants.CodeInvalidRequest, "Check the `password` parameter"},
		{"wrong password", "alice", "wrong", grants.CodeInvalidGrant, ""},
		{"another user's password", "alice", bobPassword, grants.CodeInvalidGrant, ""},
		{"unknown user", "mallory", alicePassword, grants.CodeInvalidGrant, ""},
		{"usernames are case-sensitive", "Alice", alicePassword, grants.CodeInvalidGrant, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, oerr := e.token(t, passwordRequest("web", webSecret, tt.username, tt.password, ""))
			wantError(t, oerr, tt.code, tt.hint)
			if tt.code == grants.CodeInvalidGrant {
				assert.Equal(t, "The user credentials were incorrect.", oerr.Description)
			}
		})
	}
}

func TestPassword_UnknownUserPaysAComparison(t *testing.T) {
	e := newEnv(t)
	e.mustToken(t, ccRequest("web", webSecret, "")) // caches the client secret
	before := len(e.comparer.compared())

	_, oerr := e.token(t, passwordRequest("web", webSecret, "mallory", "guess", ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "")
	// One comparison, as a known user with a wrong password costs; secrets.Verifier
	// picks the hash it burns (the last real one it saw).
	assert.Len(t, e.comparer.compared()[before:], 1)
}
