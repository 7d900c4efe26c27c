package grants_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// keys returns the env's key set.
func (e *env) keys() grants.Keys { return keyset.Static(e.signer, nil) }

// revoke asks to revoke token as client.
func (e *env) revoke(t testing.TB, client, secret, token string) *grants.Error {
	t.Helper()
	err := e.server.Revoke(t.Context(), &grants.TokenRequest{ClientID: client, ClientSecret: secret, Token: token, Issuer: issuerOrigin})
	if err == nil {
		return nil
	}
	var oerr *grants.Error
	require.ErrorAs(t, err, &oerr)
	return oerr
}

// introspect asks about token as client; the call must succeed.
func (e *env) introspect(t testing.TB, client, secret, token string) *grants.Introspection {
	t.Helper()
	in, err := e.server.Introspect(t.Context(), &grants.TokenRequest{ClientID: client, ClientSecret: secret, Token: token, Issuer: issuerOrigin})
	require.NoError(t, err)
	return in
}

func TestRevoke_RefreshTokenRevokesItsFamily(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	second := e.mustToken(t, refresh(first.RefreshToken, ""))

	require.Nil(t, e.revoke(t, "web", webSecret, second.RefreshToken))
	_, oerr := e.token(t, refresh(second.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.False(t, e.introspect(t, "web", webSecret, second.AccessToken).Active, "the family's access tokens too")
	assert.False(t, e.introspect(t, "web", webSecret, first.AccessToken).Active)
}

func TestRevoke_AccessTokenOfAFamilyRevokesTheFamily(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	require.Nil(t, e.revoke(t, "web", webSecret, first.AccessToken))
	_, oerr := e.token(t, refresh(first.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
}

func TestRevoke_AccessTokenWithoutAFamilyIsDenied(t *testing.T) {
	e := newEnv(t)
	cc := e.mustToken(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: svcSecret})
	require.True(t, e.introspect(t, "svc", svcSecret, cc.AccessToken).Active)
	require.Nil(t, e.revoke(t, "svc", svcSecret, cc.AccessToken))
	assert.False(t, e.introspect(t, "svc", svcSecret, cc.AccessToken).Active)
	assert.Nil(t, e.revoke(t, "svc", svcSecret, cc.AccessToken), "revoking again is fine")

	state, err := e.store.AccessToken(t.Context(), e.claims(t, cc.AccessToken).ID)
	require.NoError(t, err)
	assert.True(t, state.Revoked)
	assert.Empty(t, state.FamilyID)
}

func TestRevoke_TokensThereIsNoNeedToRevoke(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	expired := e.login(t, "read")
	e.clock.Advance(refreshTTL + accessTTL)
	for name, token := range map[string]string{
		"garbage":                "not-a-token",
		"three garbage segments": "a.b.c",
		"expired refresh token":  expired.RefreshToken,
		"expired access token":   first.AccessToken,
		"a truncated token":      first.RefreshToken[:20],
		"a huge token":           strings.Repeat("a.", 10000) + "a",
	} {
		assert.Nil(t, e.revoke(t, "web", webSecret, token), name)
	}
}

func TestRevoke_AnotherClientsTokenIsRefusedAndKept(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	for _, token := range []string{first.RefreshToken, first.AccessToken} {
		oerr := e.revoke(t, "limited", limitedSecret, token)
		require.NotNil(t, oerr)
		assert.Equal(t, grants.CodeUnauthorizedClient, oerr.Code)
		assert.Equal(t, 400, oerr.Status)
	}
	e.mustToken(t, refresh(first.RefreshToken, ""))
}

func TestRevoke_AuthenticatesTheClient(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	for name, creds := range map[string][2]string{
		"unknown client": {"nobody", "x"},
		"wrong secret":   {"web", "wrong"},
		"no secret":      {"web", ""},
		"no client":      {"", ""},
	} {
		oerr := e.revoke(t, creds[0], creds[1], first.RefreshToken)
		require.NotNil(t, oerr, name)
		assert.Equal(t, grants.CodeInvalidClient, oerr.Code, name)
	}
	e.mustToken(t, refresh(first.RefreshToken, ""))

	// A public client names itself and revokes its own tokens.
	spa := e.mustToken(t, grants.Request{GrantType: repos.GrantPassword, ClientID: "spa",
		Username: "alice", Password: alicePassword, Scope: "read"})
	assert.Nil(t, e.revoke(t, "spa", "", spa.RefreshToken))
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "spa", RefreshToken: spa.RefreshToken})
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")

	oerr = e.revoke(t, "web", webSecret, "")
	wantError(t, oerr, grants.CodeInvalidRequest, "Check the `token` parameter")
}

func TestIntrospect_ActiveAccessToken(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read write")
	in := e.introspect(t, "web", webSecret, first.AccessToken)
	c := e.claims(t, first.AccessToken)
	assert.Equal(t, &grants.Introspection{
		Active: true, TokenType: "Bearer", Scope: "read write", ClientID: "web", Subject: "u-alice",
		Username: "alice", Audience: []string{"web"}, Issuer: issuerOrigin,
		ExpiresAt: c.Expiry.Unix(), IssuedAt: c.IssuedAt.Unix(), NotBefore: c.IssuedAt.Unix(), ID: c.ID,
	}, in)

	cc := e.mustToken(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: svcSecret})
	in = e.introspect(t, "svc", svcSecret, cc.AccessToken)
	assert.True(t, in.Active)
	assert.Equal(t, "svc", in.Subject)
	assert.Empty(t, in.Username, "a client's own token has no user")
}

func TestIntrospect_ActiveRefreshToken(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	in := e.introspect(t, "web", webSecret, first.RefreshToken)
	p := e.payload(t, first.RefreshToken)
	assert.Equal(t, &grants.Introspection{
		Active: true, TokenType: "refresh_token", Scope: "read", ClientID: "web", Subject: "u-alice",
		Username: "alice", Issuer: issuerOrigin, ExpiresAt: p.ExpiresAt.Unix(), ID: p.ID,
	}, in)
}

func TestIntrospect_InactiveTokensSayNothingMore(t *testing.T) {
	e := newEnv(t)
	used := e.login(t, "read")
	e.mustToken(t, refresh(used.RefreshToken, ""))
	revoked := e.login(t, "read")
	require.Nil(t, e.revoke(t, "web", webSecret, revoked.RefreshToken))
	other := e.login(t, "read")
	// Another deployment's token, signed with the same key (the tests share
	// one) and sealed with the same secret, but unknown to this store.
	elsewhere := newEnv(t).login(t, "read")

	tests := map[string]string{
		"used refresh token":               used.RefreshToken,
		"revoked refresh token":            revoked.RefreshToken,
		"access token of a revoked family": revoked.AccessToken,
		"garbage":                          "garbage",
		"garbage JWT":                      "a.b.c",
	}
	for name, token := range tests {
		assert.Equal(t, &grants.Introspection{}, e.introspect(t, "web", webSecret, token), name)
	}
	// Another client's tokens are not active for web, but are for rs,
	// which may introspect every token.
	for _, token := range []string{other.AccessToken, other.RefreshToken} {
		assert.Equal(t, &grants.Introspection{}, e.introspect(t, "limited", limitedSecret, token))
		assert.True(t, e.introspect(t, "rs", svcSecret, token).Active)
	}
	assert.False(t, e.introspect(t, "rs", svcSecret, elsewhere.RefreshToken).Active, "unknown refresh token")

	e.clock.Advance(accessTTL)
	assert.False(t, e.introspect(t, "web", webSecret, other.AccessToken).Active, "expired")
}

func TestIntrospect_OnlyConfidentialClients(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	_, err := e.server.Introspect(t.Context(), &grants.TokenRequest{ClientID: "spa", Token: first.AccessToken, Issuer: issuerOrigin})
	var oerr *grants.Error
	require.ErrorAs(t, err, &oerr)
	assert.Equal(t, grants.CodeInvalidClient, oerr.Code)
	assert.Equal(t, 401, oerr.Status)

	_, err = e.server.Introspect(t.Context(), &grants.TokenRequest{ClientID: "web", ClientSecret: "wrong", Token: first.AccessToken})
	require.ErrorAs(t, err, &oerr)
	assert.Equal(t, grants.CodeInvalidClient, oerr.Code)
}

func TestIntrospect_ChecksTheIssuer(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	in, err := e.server.Introspect(t.Context(), &grants.TokenRequest{ClientID: "web", ClientSecret: webSecret,
		Token: first.AccessToken, Issuer: "https://elsewhere.example"})
	require.NoError(t, err)
	assert.False(t, in.Active, "a token of another issuer is not ours")
}

func TestIntrospect_RemovedClientsTokensAreInactive(t *testing.T) {
	e := newEnv(t)
	cc := e.mustToken(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: svcSecret})
	require.True(t, e.introspect(t, "rs", svcSecret, cc.AccessToken).Active)
	require.NoError(t, e.store.DeleteClient(t.Context(), "svc"))
	assert.False(t, e.introspect(t, "rs", svcSecret, cc.AccessToken).Active,
		"a token of no family, which no revocation reaches, dies with its client")
}

func TestIntrospect_DeletedUsersTokensAreInactive(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	require.NoError(t, e.store.DeleteUser(t.Context(), "u-alice"))
	assert.False(t, e.introspect(t, "web", webSecret, first.AccessToken).Active)
	assert.False(t, e.introspect(t, "web", webSecret, first.RefreshToken).Active)
}
