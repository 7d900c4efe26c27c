package grants_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Secrets of the fixture. Each is distinctive so that a test can search
// error texts for it.
const (
	webSecret     = "web-secret-9f3b"
	svcSecret     = "svc-secret-77aa"
	limitedSecret = "limited-secret-c1d2"
	alicePassword = "alice-password-5e6f"
	bobPassword   = "bob-password-0a1b"
	fakeSecret    = "antitiming"
	issuerOrigin  = "https://auth.example.com"
	accessTTL     = time.Hour
	refreshTTL    = 24 * time.Hour
)

// t0 is a whole second, so that expiries computed by the test and by the
// server agree exactly.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hashes are the fixture's bcrypt hashes at MinCost, computed once per run.
var hashes = sync.OnceValue(func() map[string]string {
	m := make(map[string]string)
	for _, s := range []string{webSecret, svcSecret, limitedSecret, alicePassword, bobPassword, fakeSecret} {
		h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		m[s] = string(h)
	}
	return m
})

// key is one ES256 key for the whole run: generating is cheap, but the
// signer's identity does not matter to any test.
var key = sync.OnceValue(func() *tokens.Signer {
	k, err := tokens.GenerateKey()
	if err != nil {
		panic(err)
	}
	s, err := tokens.NewSigner(k)
	if err != nil {
		panic(err)
	}
	return s
})

// fixture stores the definitions every test starts from:
//
//	web          confidential, every grant, every scope, no default scope
//	limited      confidential, every grant, only "read"
//	svc          confidential, only client_credentials, only "read", default "read"
//	norefresh    confidential, only password
//	spa          public, password and refresh_token, "read" and "write"
//	mobile       public, every grant
//	emptydefault confidential, default scope set but empty: none
//	staledefault confidential, default scope names a scope that does not exist
//	rs           confidential, only client_credentials, may introspect every token
//	alice        every scope
//	bob          only "read"
func fixture(t testing.TB, store *reposql.Store) {
	t.Helper()
	ctx := context.Background()
	h := hashes()
	for _, id := range []string{"read", "write", "admin", "profile"} {
		require.NoError(t, store.PutScope(ctx, repos.Scope{ID: id}))
	}
	clients := []repos.Client{
		{ID: "web", SecretHash: h[webSecret]},
		{ID: "limited", SecretHash: h[limitedSecret], Scopes: []string{"read"}},
		{ID: "svc", SecretHash: h[svcSecret], Grants: []string{repos.GrantClientCredentials},
			Scopes: []string{"read"}, DefaultScope: []string{"read"}},
		{ID: "norefresh", SecretHash: h[webSecret], Grants: []string{repos.GrantPassword}},
		{ID: "spa", Grants: []string{repos.GrantPassword, repos.GrantRefreshToken}, Scopes: []string{"read", "write"}},
		{ID: "mobile"},
		{ID: "emptydefault", SecretHash: h[webSecret], DefaultScope: []string{}},
		{ID: "staledefault", SecretHash: h[webSecret], DefaultScope: []string{"gone"}},
		{ID: "rs", SecretHash: h[svcSecret], Grants: []string{repos.GrantClientCredentials}, Introspect: true},
	}
	for _, c := range clients {
		require.NoError(t, store.PutClient(ctx, c))
	}
	require.NoError(t, store.PutUser(ctx, repos.User{ID: "u-alice", Username: "alice", PasswordHash: h[alicePassword]}))
	require.NoError(t, store.PutUser(ctx, repos.User{ID: "u-bob", Username: "bob", PasswordHash: h[bobPassword], Scopes: []string{"read"}}))
}

// clock is an injectable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// bcryptComparer verifies bcrypt hashes and records which hashes it was asked
// about, so tests can see that the fake hash was paid for.
type bcryptComparer struct {
	mu     sync.Mutex
	hashed []string
}

func (c *bcryptComparer) Compare(hashed, plaintext []byte) (bool, error) {
	c.mu.Lock()
	c.hashed = append(c.hashed, string(hashed))
	c.mu.Unlock()
	err := bcrypt.CompareHashAndPassword(hashed, plaintext)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

func (c *bcryptComparer) compared() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hashed...)
}

// spyStore counts the calls that change token state, over the real store.
type spyStore struct {
	repos.TokenStore
	rotations atomic.Int64
}

func (s *spyStore) Rotate(ctx context.Context, r repos.Rotation) (repos.RefreshToken, error) {
	s.rotations.Add(1)
	return s.TokenStore.Rotate(ctx, r)
}

// env is a Server over a real SQLite store in a temporary directory.
type env struct {
	server   *grants.Server
	store    *reposql.Store
	spy      *spyStore
	signer   *tokens.Signer
	sealer   *tokens.Sealer
	clock    *clock
	comparer *bcryptComparer
}

// newEnv builds an env with every grant enabled and default scope "profile";
// opts adjust the config before the server is built.
func newEnv(t testing.TB, opts ...func(*grants.Config)) *env {
	t.Helper()
	store, err := reposql.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, store.Close()) })
	fixture(t, store)

	sealer, err := tokens.NewSealer([]byte("an encryption key of at least 32 bytes"))
	require.NoError(t, err)
	e := &env{
		store:    store,
		spy:      &spyStore{TokenStore: store},
		signer:   key(),
		sealer:   sealer,
		clock:    &clock{now: t0},
		comparer: &bcryptComparer{},
	}
	cfg := grants.Config{
		AccessTokenTTL:  accessTTL,
		RefreshTokenTTL: refreshTTL,
		Grants:          []string{repos.GrantRefreshToken, repos.GrantPassword, repos.GrantClientCredentials},
		DefaultScope:    []string{"profile"},
		Keys:            keyset.Static(e.signer, nil),
		Sealer:          sealer,
		Definitions:     store,
		Tokens:          e.spy,
		Secrets:         secretsFor(e),
		Now:             e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.server, err = grants.NewServer(cfg)
	require.NoError(t, err)
	return e
}

// secretsFor returns a verifier over the env's comparer, for servers built
// by hand next to the env's.
func secretsFor(e *env) *secrets.Verifier {
	return secrets.New(secrets.Options{Bcrypt: e.comparer, FakeHash: []byte(hashes()[fakeSecret]), Cache: secrets.NewCache(100)})
}

// token runs one request with the env's issuer.
func (e *env) token(t testing.TB, r grants.Request) (*grants.Response, *grants.Error) {
	t.Helper()
	if r.Issuer == "" {
		r.Issuer = issuerOrigin
	}
	resp, err := e.server.Token(context.Background(), &r)
	if err == nil {
		require.NotNil(t, resp)
		return resp, nil
	}
	require.Nil(t, resp)
	var oerr *grants.Error
	require.ErrorAs(t, err, &oerr, "Token must return *grants.Error")
	return nil, oerr
}

// mustToken runs a request that must succeed.
func (e *env) mustToken(t testing.TB, r grants.Request) *grants.Response {
	t.Helper()
	resp, oerr := e.token(t, r)
	require.Nil(t, oerr, "unexpected error: %v", oerr)
	return resp
}

// login runs the password grant for alice as web, with scope.
func (e *env) login(t testing.TB, scope string) *grants.Response {
	t.Helper()
	resp := e.mustToken(t, grants.Request{
		GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret,
		Username: "alice", Password: alicePassword, Scope: scope,
	})
	require.NotEmpty(t, resp.RefreshToken)
	return resp
}

// refresh builds a refresh request by web.
func refresh(token, scope string) grants.Request {
	return grants.Request{
		GrantType: repos.GrantRefreshToken, ClientID: "web", ClientSecret: webSecret,
		RefreshToken: token, Scope: scope,
	}
}

// claims verifies an access token and returns its claims.
func (e *env) claims(t testing.TB, accessToken string) *tokens.AccessClaims {
	t.Helper()
	c, err := e.signer.Verify(accessToken, e.clock.Now())
	require.NoError(t, err)
	return c
}

// payload opens a refresh token.
func (e *env) payload(t testing.TB, refreshToken string) *tokens.RefreshPayload {
	t.Helper()
	p, err := e.sealer.Open(refreshToken)
	require.NoError(t, err)
	return p
}

// refreshState reports the stored state of a refresh token.
func (e *env) refreshState(t testing.TB, refreshToken string) (used, revoked bool) {
	t.Helper()
	used, revoked, err := e.store.RefreshTokenState(context.Background(), e.payload(t, refreshToken).ID)
	require.NoError(t, err)
	return used, revoked
}

// wantError asserts an OAuth error's code, hint and status.
func wantError(t testing.TB, oerr *grants.Error, code, hint string) {
	t.Helper()
	require.NotNil(t, oerr, "want %s, got success", code)
	assert.Equal(t, code, oerr.Code, "error: %v", oerr)
	assert.Equal(t, hint, oerr.Hint, "error: %v", oerr)
	want := 400
	switch code {
	case grants.CodeInvalidClient:
		want = 401
	case grants.CodeServerError:
		want = 500
	case grants.CodeTemporarilyUnavailable:
		want = 503
	}
	assert.Equal(t, want, oerr.Status)
	assert.NotEmpty(t, oerr.Description)
}
