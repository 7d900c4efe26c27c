package grants_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestClientCredentials_IssuesAccessTokenForTheClientOnly(t *testing.T) {
	e := newEnv(t)
	resp := e.mustToken(t, ccRequest("svc", svcSecret, "read"))

	assert.Empty(t, resp.RefreshToken, "RFC 6749 §4.4.3: no refresh token")
	assert.Equal(t, "read", resp.Scope)
	c := e.claims(t, resp.AccessToken)
	assert.Equal(t, "svc", c.Subject)
	assert.Equal(t, "svc", c.ClientID)
	assert.Equal(t, []string{"svc"}, c.Audience)

	_, err := e.store.AccessToken(context.Background(), c.ID)
	require.ErrorIs(t, err, repos.ErrNotFound, "a token of no family is not recorded")
}

func TestClientCredentials_PublicClientIsInvalidClient(t *testing.T) {
	e := newEnv(t)
	for _, secret := range []string{"", "anything"} {
		_, oerr := e.token(t, ccRequest("mobile", secret, ""))
		wantError(t, oerr, grants.CodeInvalidClient, "")
	}
}
