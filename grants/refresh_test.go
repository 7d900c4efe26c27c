package grants_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

func TestRefresh_RotatesToken(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read write")
	e.clock.Advance(time.Minute)

	second := e.mustToken(t, refresh(first.RefreshToken, ""))
	require.NotEmpty(t, second.RefreshToken, "a refresh always returns the successor")
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	assert.Equal(t, "read write", second.Scope)
	assert.EqualValues(t, 3600, second.ExpiresIn)

	old, next := e.payload(t, first.RefreshToken), e.payload(t, second.RefreshToken)
	assert.Equal(t, old.FamilyID, next.FamilyID)
	assert.Equal(t, old.UserID, next.UserID)
	assert.Equal(t, old.ClientID, next.ClientID)
	assert.Equal(t, old.Scopes, next.Scopes)
	assert.Equal(t, t0.Add(time.Minute).Add(refreshTTL), next.ExpiresAt, "the successor's lifetime starts now")

	c := e.claims(t, second.AccessToken)
	assert.Equal(t, "u-alice", c.Subject)
	assert.Equal(t, t0.Add(time.Minute), c.IssuedAt.UTC())
	state, err := e.store.AccessToken(context.Background(), c.ID)
	require.NoError(t, err, "the new access token is recorded with the successor")
	assert.False(t, state.Revoked)

	used, _ := e.refreshState(t, first.RefreshToken)
	assert.True(t, used, "the presented token is consumed")

	// The successor works in turn.
	third := e.mustToken(t, refresh(second.RefreshToken, ""))
	assert.NotEmpty(t, third.RefreshToken)
}

func TestRefresh_ReplayRevokesFamily(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	second := e.mustToken(t, refresh(first.RefreshToken, ""))

	// The rotated token presented again is a replay.
	_, oerr := e.token(t, refresh(first.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.ErrorIs(t, oerr, repos.ErrTokenUsed, "the log can tell a replay")

	// The whole family is gone, the successor and its access token included.
	_, oerr = e.token(t, refresh(second.RefreshToken, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.ErrorIs(t, oerr, repos.ErrTokenRevoked)
	for _, at := range []string{first.AccessToken, second.AccessToken} {
		state, err := e.store.AccessToken(context.Background(), e.claims(t, at).ID)
		require.NoError(t, err)
		assert.True(t, state.Revoked)
	}

	// Another login is another family, untouched.
	other := e.login(t, "read")
	e.mustToken(t, refresh(other.RefreshToken, ""))
}

// TestRefresh_RefusedRefreshLeavesTokenUsable presents a token in every wrong
// way that is not about the token's state; none may consume or revoke it.
func TestRefresh_RefusedRefreshLeavesTokenUsable(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read write").RefreshToken
	tampered := []byte(rt)
	tampered[len(tampered)/2] ^= 1

	tests := []struct {
		name       string
		req        grants.Request
		code, hint string
	}{
		{"another client", grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "limited", ClientSecret: limitedSecret, RefreshToken: rt},
			grants.CodeInvalidGrant, "Token is not linked to client"},
		{"a public client", grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "spa", RefreshToken: rt},
			grants.CodeInvalidGrant, "Token is not linked to client"},
		{"right client, wrong secret", grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: "wrong", RefreshToken: rt},
			grants.CodeInvalidClient, ""},
		{"client not allowed to refresh", grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "svc", ClientSecret: svcSecret, RefreshToken: rt},
			grants.CodeUnauthorizedClient, ""},
		{"wider scope", refresh(rt, "read admin"), grants.CodeInvalidScope, "Check the `admin` scope"},
		{"unknown scope", refresh(rt, "nope"), grants.CodeInvalidScope, "Check the `nope` scope"},
		{"malformed scope", refresh(rt, `read"`), grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"tampered copy", refresh(string(tampered), ""), grants.CodeInvalidGrant, "Cannot decrypt the refresh token"},
		{"truncated copy", refresh(rt[:len(rt)-1], ""), grants.CodeInvalidGrant, "Cannot decrypt the refresh token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, oerr := e.token(t, tt.req)
			wantError(t, oerr, tt.code, tt.hint)
			used, revoked := e.refreshState(t, rt)
			assert.False(t, used)
			assert.False(t, revoked)
		})
	}
	assert.Zero(t, e.spy.rotations.Load(), "no refused refresh may reach Rotate")

	resp := e.mustToken(t, refresh(rt, ""))
	assert.Equal(t, "read write", resp.Scope)
}

func TestRefresh_NarrowedScopeNarrowsOnlyTheAccessToken(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read write")

	narrow := e.mustToken(t, refresh(first.RefreshToken, "write"))
	assert.Equal(t, "write", narrow.Scope)
	assert.Equal(t, []string{"write"}, e.claims(t, narrow.AccessToken).Scopes)
	assert.Equal(t, []string{"read", "write"}, e.payload(t, narrow.RefreshToken).Scopes,
		"RFC 6749 §6: the successor keeps the presented token's scope")

	full := e.mustToken(t, refresh(narrow.RefreshToken, ""))
	assert.Equal(t, "read write", full.Scope)
	assert.Equal(t, []string{"read", "write"}, e.claims(t, full.AccessToken).Scopes)
}

func TestRefresh_ExpiredToken(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		wantOK  bool
	}{
		{"one second before expiry", refreshTTL - time.Second, true},
		{"at expiry", refreshTTL, false},
		{"long after expiry", 10 * refreshTTL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rt := e.login(t, "read").RefreshToken
			e.clock.Advance(tt.advance)
			_, oerr := e.token(t, refresh(rt, ""))
			if tt.wantOK {
				assert.Nil(t, oerr)
				return
			}
			wantError(t, oerr, grants.CodeInvalidGrant, "Token has expired")
			assert.Zero(t, e.spy.rotations.Load())
		})
	}
}

func TestRefresh_DeletedUserCannotRefresh(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read").RefreshToken
	require.NoError(t, e.store.DeleteUser(context.Background(), "u-alice"))

	_, oerr := e.token(t, refresh(rt, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
	assert.ErrorIs(t, oerr, repos.ErrNotFound)
	assert.Zero(t, e.spy.rotations.Load())
}

func TestRefresh_WithdrawnScopeFailsUntilNarrowed(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read admin").RefreshToken
	require.NoError(t, e.store.DeleteScope(context.Background(), "admin"))

	_, oerr := e.token(t, refresh(rt, ""))
	wantError(t, oerr, grants.CodeInvalidScope, "Check the `admin` scope")

	resp := e.mustToken(t, refresh(rt, "read"))
	assert.Equal(t, "read", resp.Scope)
}

func TestRefresh_RevokedFamily(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read").RefreshToken
	require.NoError(t, e.store.RevokeFamily(context.Background(), e.payload(t, rt).FamilyID))

	_, oerr := e.token(t, refresh(rt, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token has been revoked")
}

func TestRefresh_UnknownTokenIsInvalidGrant(t *testing.T) {
	e := newEnv(t)
	// Sealed with the server's key but never recorded, as after a lost database.
	forged, err := e.sealer.Seal(tokens.RefreshPayload{
		ID: tokens.NewID(), FamilyID: tokens.NewID(), ClientID: "web", UserID: "u-alice",
		Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour),
	})
	require.NoError(t, err)

	_, oerr := e.token(t, refresh(forged, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Token is unknown")
}

func TestRefresh_TokenFromAnotherKeyIsUndecryptable(t *testing.T) {
	e := newEnv(t)
	other, err := tokens.NewSealer([]byte("another encryption key, 32 bytes or more"))
	require.NoError(t, err)
	foreign, err := other.Seal(tokens.RefreshPayload{
		ID: tokens.NewID(), FamilyID: tokens.NewID(), ClientID: "web", ExpiresAt: t0.Add(time.Hour),
	})
	require.NoError(t, err)

	_, oerr := e.token(t, refresh(foreign, ""))
	wantError(t, oerr, grants.CodeInvalidGrant, "Cannot decrypt the refresh token")
}

// stubRotate answers Rotate with a fixed error.
type stubRotate struct {
	repos.TokenStore
	err error
}

func (s stubRotate) Rotate(context.Context, repos.Rotation) (repos.RefreshToken, error) {
	return repos.RefreshToken{}, s.err
}

func TestRefresh_StoreRefusalsMapToInvalidGrant(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		code, hint string
	}{
		{"used: replay, told as revoked", repos.ErrTokenUsed, grants.CodeInvalidGrant, "Token has been revoked"},
		{"revoked", repos.ErrTokenRevoked, grants.CodeInvalidGrant, "Token has been revoked"},
		{"expired in the store", repos.ErrTokenExpired, grants.CodeInvalidGrant, "Token has expired"},
		{"unknown, wrapped", fmt.Errorf("refresh token: %w", repos.ErrNotFound), grants.CodeInvalidGrant, "Token is unknown"},
		{"anything else", errors.New("disk I/O error"), grants.CodeServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			rt := e.login(t, "read").RefreshToken
			s, err := grants.NewServer(grants.Config{
				AccessTokenTTL: accessTTL, RefreshTokenTTL: refreshTTL,
				Keys: keyset.Static(e.signer, nil), Sealer: e.sealer, Definitions: e.store,
				Tokens:  stubRotate{TokenStore: e.store, err: tt.err},
				Secrets: secretsFor(e), Now: e.clock.Now,
			})
			require.NoError(t, err)
			req := refresh(rt, "")
			_, gotErr := s.Token(context.Background(), &req)
			var oerr *grants.Error
			require.ErrorAs(t, gotErr, &oerr)
			wantError(t, oerr, tt.code, tt.hint)
			assert.ErrorIs(t, oerr, tt.err, "the store's error is kept as the cause")
		})
	}
}

// TestRefresh_ConcurrentRefreshesOneWins fires one token at the server from
// many goroutines: exactly one may rotate it. The losers look like replays,
// which revokes the family: RFC 9700 cannot tell a race from a theft.
func TestRefresh_ConcurrentRefreshesOneWins(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read").RefreshToken

	const n = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			req := refresh(rt, "")
			req.Issuer = issuerOrigin
			_, results[i] = e.server.Token(context.Background(), &req)
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range results {
		if err == nil {
			wins++
			continue
		}
		var oerr *grants.Error
		require.ErrorAs(t, err, &oerr)
		assert.Equal(t, grants.CodeInvalidGrant, oerr.Code, "loser error: %v", oerr)
	}
	assert.Equal(t, 1, wins)
}
