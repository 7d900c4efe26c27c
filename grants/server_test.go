package grants_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

func TestNewServer_RejectsBadConfig(t *testing.T) {
	e := newEnv(t)
	valid := func() grants.Config {
		return grants.Config{
			AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour,
			Keys: keyset.Static(e.signer, nil), Sealer: e.sealer, Definitions: e.store, Tokens: e.store,
			Secrets: secrets.New(secrets.Options{Bcrypt: e.comparer}),
		}
	}
	tests := []struct {
		name    string
		mutate  func(*grants.Config)
		wantErr string // "" means valid
	}{
		{"valid defaults", func(*grants.Config) {}, ""},
		{"unknown grant", func(c *grants.Config) { c.Grants = []string{"authorization_code"} }, `unknown grant "authorization_code"`},
		{"grant names are case-sensitive", func(c *grants.Config) { c.Grants = []string{"Password"} }, `unknown grant "Password"`},
		{"no access TTL", func(c *grants.Config) { c.AccessTokenTTL = 0 }, "AccessTokenTTL: must be at least 1s"},
		{"sub-second access TTL", func(c *grants.Config) { c.AccessTokenTTL = time.Millisecond }, "AccessTokenTTL: must be at least 1s"},
		{"no refresh TTL with refresh enabled", func(c *grants.Config) { c.RefreshTokenTTL = 0 }, "RefreshTokenTTL: must be at least 1s"},
		{"no sealer with refresh enabled", func(c *grants.Config) { c.Sealer = nil }, "sealer"},
		{"no sealer nor refresh TTL needed without refresh", func(c *grants.Config) {
			c.Grants, c.Sealer, c.RefreshTokenTTL = []string{repos.GrantClientCredentials}, nil, 0
		}, ""},
		{"no signer", func(c *grants.Config) { c.Keys = nil }, "signer"},
		{"no definitions", func(c *grants.Config) { c.Definitions = nil }, "definitions"},
		{"no token store", func(c *grants.Config) { c.Tokens = nil }, "token store"},
		{"no secrets", func(c *grants.Config) { c.Secrets = nil }, "secrets"},
		{"malformed default scope", func(c *grants.Config) { c.DefaultScope = []string{"read write"} }, "DefaultScope: "},
		{"empty default scope element", func(c *grants.Config) { c.DefaultScope = []string{""} }, "DefaultScope: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			s, err := grants.NewServer(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestToken_DefaultGrantsExcludePassword(t *testing.T) {
	e := newEnv(t, func(c *grants.Config) { c.Grants = nil })
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret,
		Username: "alice", Password: alicePassword})
	wantError(t, oerr, grants.CodeUnsupportedGrantType, "")

	resp := e.mustToken(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: webSecret})
	assert.Empty(t, resp.RefreshToken)
}

// TestToken_OrderOfChecks pins league's order: grant type, client identity and
// secret, grant allowed, the grant's parameters, its credentials or token, and
// scope last. Each row breaks two things and expects the earlier check to win.
func TestToken_OrderOfChecks(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		req  grants.Request
		code string
		hint string
	}{
		{"missing grant_type beats unknown client",
			grants.Request{ClientID: "nobody", Scope: "bad\\scope"},
			grants.CodeInvalidRequest, "Check the `grant_type` parameter"},
		{"unknown grant_type beats unknown client",
			grants.Request{GrantType: "authorization_code", ClientID: "nobody"},
			grants.CodeUnsupportedGrantType, ""},
		{"grant_type is case-sensitive",
			grants.Request{GrantType: "Refresh_Token", ClientID: "web", ClientSecret: webSecret},
			grants.CodeUnsupportedGrantType, ""},
		{"missing client id",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientSecret: webSecret},
			grants.CodeInvalidClient, ""},
		{"unknown client",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "nobody", ClientSecret: webSecret},
			grants.CodeInvalidClient, ""},
		{"client ids are case-sensitive",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "WEB", ClientSecret: webSecret},
			grants.CodeInvalidClient, ""},
		{"wrong secret beats bad scope",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: "wrong", Scope: "nope"},
			grants.CodeInvalidClient, ""},
		{"another client's secret",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: svcSecret},
			grants.CodeInvalidClient, ""},
		{"confidential client without secret",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web"},
			grants.CodeInvalidClient, ""},
		{"wrong secret beats grant not allowed",
			grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "svc", ClientSecret: "wrong"},
			grants.CodeInvalidClient, ""},
		{"grant not allowed beats missing refresh_token",
			grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "svc", ClientSecret: svcSecret},
			grants.CodeUnauthorizedClient, ""},
		{"grant not allowed for a public client",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "spa"},
			grants.CodeUnauthorizedClient, ""},
		{"public client on client_credentials",
			grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "mobile", Scope: "nope"},
			grants.CodeInvalidClient, ""},
		{"public client's secret is ignored",
			grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "spa", ClientSecret: "anything"},
			grants.CodeInvalidRequest, "Check the `refresh_token` parameter"},
		{"missing refresh_token beats bad scope",
			grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: webSecret, Scope: "nope"},
			grants.CodeInvalidRequest, "Check the `refresh_token` parameter"},
		{"undecryptable refresh_token beats bad scope",
			grants.Request{GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: webSecret, RefreshToken: "garbage", Scope: "nope"},
			grants.CodeInvalidGrant, "Cannot decrypt the refresh token"},
		{"missing username beats bad scope",
			grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Password: alicePassword, Scope: "nope"},
			grants.CodeInvalidRequest, "Check the `username` parameter"},
		{"missing password beats unknown user",
			grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Username: "nobody"},
			grants.CodeInvalidRequest, "Check the `password` parameter"},
		{"wrong password beats bad scope",
			grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Username: "alice", Password: "wrong", Scope: "nope"},
			grants.CodeInvalidGrant, ""},
		{"scope checked last",
			grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Username: "alice", Password: alicePassword, Scope: "nope"},
			grants.CodeInvalidScope, "Check the `nope` scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, oerr := e.token(t, tt.req)
			wantError(t, oerr, tt.code, tt.hint)
		})
	}
}

func TestToken_InvalidClientDescriptionIsLeagues(t *testing.T) {
	e := newEnv(t)
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "nobody"})
	wantError(t, oerr, grants.CodeInvalidClient, "")
	assert.Equal(t, "Client authentication failed", oerr.Description)
}

// A client id is not a secret (RFC 6749 §2.2): an unknown one is refused
// without a hash, which would only hand whoever sends random ids our CPU.
func TestToken_UnknownClientIsInvalidClientWithoutHashing(t *testing.T) {
	e := newEnv(t)
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "nobody", ClientSecret: "guess"})
	wantError(t, oerr, grants.CodeInvalidClient, "")
	assert.Empty(t, e.comparer.compared())
}

func TestToken_ConfidentialClientWithoutSecretIsRefusedWithoutHashing(t *testing.T) {
	e := newEnv(t)
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web"})
	wantError(t, oerr, grants.CodeInvalidClient, "")
	assert.Empty(t, e.comparer.compared())
}

func TestToken_VerifiedSecretIsCached(t *testing.T) {
	e := newEnv(t)
	req := grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: webSecret}
	e.mustToken(t, req)
	e.mustToken(t, req)
	e.mustToken(t, req)
	assert.Len(t, e.comparer.compared(), 1)
}

func TestToken_NilRequestIsInvalidRequest(t *testing.T) {
	e := newEnv(t)
	resp, err := e.server.Token(context.Background(), nil)
	assert.Nil(t, resp)
	var oerr *grants.Error
	require.ErrorAs(t, err, &oerr)
	assert.Equal(t, grants.CodeInvalidRequest, oerr.Code)
}

// TestToken_ErrorsNeverEchoSecrets fails requests in every way that carries a
// secret and searches everything the error holds, Cause included.
func TestToken_ErrorsNeverEchoSecrets(t *testing.T) {
	e := newEnv(t)
	rt := e.login(t, "read").RefreshToken
	const (
		sentSecret   = "sent-secret-31337"
		sentPassword = "sent-password-31337"
	)
	tampered := rt[:len(rt)-4] + "AAAA"
	tests := []grants.Request{
		{GrantType: repos.GrantClientCredentials, ClientID: "nobody", ClientSecret: sentSecret},
		{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: sentSecret},
		{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Username: "nobody", Password: sentPassword},
		{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret, Username: "alice", Password: sentPassword},
		{GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: webSecret, RefreshToken: tampered},
		{GrantType: repos.GrantRefreshToken, ClientID: "limited", ClientSecret: limitedSecret, RefreshToken: rt},
		{GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: webSecret, RefreshToken: rt, Scope: "admin"},
	}
	for _, req := range tests {
		_, oerr := e.token(t, req)
		require.NotNil(t, oerr)
		text := strings.Join([]string{oerr.Error(), oerr.Description, oerr.Hint}, "\n")
		for _, secret := range []string{sentSecret, sentPassword, webSecret, limitedSecret, alicePassword, rt, tampered} {
			assert.NotContains(t, text, secret)
		}
	}
}

// failingDefinitions fails every lookup, as a database that went away does.
type failingDefinitions struct{ err error }

func (f failingDefinitions) Client(context.Context, string) (*repos.Client, error) { return nil, f.err }
func (f failingDefinitions) UserByUsername(context.Context, string) (*repos.User, error) {
	return nil, f.err
}
func (f failingDefinitions) UserByID(context.Context, string) (*repos.User, error) { return nil, f.err }
func (f failingDefinitions) Scope(context.Context, string) (*repos.Scope, error)   { return nil, f.err }

func TestToken_ClientLookupFailureIsTemporarilyUnavailableWithCause(t *testing.T) {
	boom := errors.New("database is on fire")
	e := newEnv(t, func(c *grants.Config) { c.Definitions = failingDefinitions{err: boom} })
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: webSecret})
	wantError(t, oerr, grants.CodeTemporarilyUnavailable, "Retry later")
	assert.ErrorIs(t, oerr, boom, "the cause is kept for the log")
	assert.NotContains(t, oerr.Description+oerr.Hint, "fire", "the cause is never sent")
}

func TestToken_IssuerAndAudience(t *testing.T) {
	tests := []struct {
		name         string
		issuer       string
		audience     []string
		wantIssuer   string
		wantAudience []string
	}{
		{"defaults: request origin and client id", "", nil, issuerOrigin, []string{"web"}},
		{"configured", "https://issuer.example", []string{"api-1", "api-2"}, "https://issuer.example", []string{"api-1", "api-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *grants.Config) { c.Issuer, c.Audience = tt.issuer, tt.audience })
			resp := e.mustToken(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: webSecret})
			c := e.claims(t, resp.AccessToken)
			assert.Equal(t, tt.wantIssuer, c.Issuer)
			assert.Equal(t, tt.wantAudience, c.Audience)
		})
	}
}

// TestToken_ResponseShape checks the fields every success carries.
func TestToken_ResponseShape(t *testing.T) {
	e := newEnv(t)
	resp := e.login(t, "read write")
	assert.Equal(t, "Bearer", resp.TokenType)
	assert.EqualValues(t, accessTTL/time.Second, resp.ExpiresIn)
	assert.Equal(t, "read write", resp.Scope)

	c := e.claims(t, resp.AccessToken)
	assert.Equal(t, t0, c.IssuedAt.UTC())
	assert.Equal(t, t0.Add(accessTTL), c.Expiry.UTC())
	assert.Len(t, c.ID, tokens.IDLength, "jti is a tokens.NewID")

	p := e.payload(t, resp.RefreshToken)
	assert.Equal(t, t0.Add(refreshTTL), p.ExpiresAt)
	assert.NotEqual(t, p.ID, p.FamilyID)
}
