package grants_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
)

// reuseInterval is the refresh reuse interval of these tests.
const reuseInterval = 30 * time.Second

func withReuse(c *grants.Config) { c.RefreshReuseInterval = reuseInterval }

func TestReuse_RetryWithinTheIntervalGetsTheSameSuccessor(t *testing.T) {
	e := newEnv(t, withReuse)
	first := e.login(t, "read")
	answer := e.mustToken(t, refresh(first.RefreshToken, ""))

	e.clock.Advance(reuseInterval - time.Second)
	retry := e.mustToken(t, refresh(first.RefreshToken, "read"))
	assert.Equal(t, e.payload(t, answer.RefreshToken).ID, e.payload(t, retry.RefreshToken).ID,
		"the retry carries the successor the lost answer carried")
	assert.NotEqual(t, answer.RefreshToken, retry.RefreshToken, "sealed anew")
	assert.NotEqual(t, e.claims(t, answer.AccessToken).ID, e.claims(t, retry.AccessToken).ID, "with a new access token")

	used, revoked := e.refreshState(t, retry.RefreshToken)
	assert.False(t, used)
	assert.False(t, revoked, "the family stays alive")
	next := e.mustToken(t, refresh(retry.RefreshToken, ""))
	assert.NotEmpty(t, next.RefreshToken, "the retried successor works")
}

func TestReuse_RetryAfterTheSuccessorWasUsedIsAReplay(t *testing.T) {
	e := newEnv(t, withReuse)
	first := e.login(t, "read")
	answer := e.mustToken(t, refresh(first.RefreshToken, ""))
	next := e.mustToken(t, refresh(answer.RefreshToken, ""))

	_, oerr := e.token(t, refresh(first.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.True(t, oerr.IsReplay())
	_, revoked := e.refreshState(t, next.RefreshToken)
	assert.True(t, revoked, "the family is revoked")
}

func TestReuse_RetryAfterTheIntervalIsAReplay(t *testing.T) {
	e := newEnv(t, withReuse)
	first := e.login(t, "read")
	answer := e.mustToken(t, refresh(first.RefreshToken, ""))

	e.clock.Advance(reuseInterval)
	_, oerr := e.token(t, refresh(first.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	_, revoked := e.refreshState(t, answer.RefreshToken)
	assert.True(t, revoked)
}

func TestReuse_OffByDefault(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	e.mustToken(t, refresh(first.RefreshToken, ""))
	_, oerr := e.token(t, refresh(first.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.True(t, oerr.IsReplay())
}

func TestReuse_ConcurrentPresentationsShareOneSuccessor(t *testing.T) {
	e := newEnv(t, withReuse)
	first := e.login(t, "read")
	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, oerr := e.token(t, refresh(first.RefreshToken, ""))
			if assert.Nil(t, oerr, "presentation %d", i) {
				ids[i] = e.payload(t, resp.RefreshToken).ID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id, "every answer carries the one successor")
	}
}

func TestReuse_RevokingTheFamilyRevokesTheRetrysAccessToken(t *testing.T) {
	e := newEnv(t, withReuse)
	first := e.login(t, "read")
	e.mustToken(t, refresh(first.RefreshToken, ""))
	retry := e.mustToken(t, refresh(first.RefreshToken, ""))

	require.NoError(t, e.server.Revoke(t.Context(), &grants.TokenRequest{
		ClientID: "web", ClientSecret: webSecret, Token: retry.RefreshToken, Issuer: issuerOrigin}))
	in := e.introspect(t, "rs", svcSecret, retry.AccessToken)
	assert.False(t, in.Active)
}

func TestNewServer_RefusesALongReuseInterval(t *testing.T) {
	e := newEnv(t)
	_, err := grants.NewServer(grants.Config{RefreshReuseInterval: grants.MaxReuseInterval + time.Second,
		AccessTokenTTL: time.Hour, Keys: e.keys(), Definitions: e.store, Tokens: e.store, Secrets: secretsFor(e)})
	assert.ErrorContains(t, err, "RefreshReuseInterval")
}
