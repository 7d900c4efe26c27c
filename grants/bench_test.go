package grants_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// benchClient adds a client whose secret has bcrypt's default cost, so that
// the benchmarks show what the secret cache saves: without it every request
// would pay tens of milliseconds.
func benchClient(b *testing.B, e *env) (id, secret string) {
	b.Helper()
	const s = "bench-secret-with-a-real-cost"
	h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.DefaultCost)
	require.NoError(b, err)
	require.NoError(b, e.store.PutClient(context.Background(), repos.Client{ID: "bench", SecretHash: string(h)}))
	return "bench", s
}

// BenchmarkRefresh measures one rotation on a SQLite file with ES256: client
// authentication (cached), unsealing, user and scope lookups, minting, and
// the rotation transaction. Each iteration presents the previous successor.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b)
	id, secret := benchClient(b, e)
	ctx := context.Background()
	login := grants.Request{GrantType: repos.GrantPassword, ClientID: id, ClientSecret: secret,
		Username: "alice", Password: alicePassword, Scope: "read write", Issuer: issuerOrigin}
	resp, err := e.server.Token(ctx, &login)
	require.NoError(b, err)
	rt := resp.RefreshToken

	for b.Loop() {
		req := grants.Request{GrantType: repos.GrantRefreshToken, ClientID: id, ClientSecret: secret,
			RefreshToken: rt, Issuer: issuerOrigin}
		resp, err := e.server.Token(ctx, &req)
		if err != nil {
			b.Fatal(err)
		}
		rt = resp.RefreshToken
	}
}

// BenchmarkClientCredentials measures a client_credentials grant on a SQLite
// file with ES256 and a cached secret.
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b)
	id, secret := benchClient(b, e)
	ctx := context.Background()
	req := grants.Request{GrantType: repos.GrantClientCredentials, ClientID: id, ClientSecret: secret,
		Scope: "read", Issuer: issuerOrigin}
	_, err := e.server.Token(ctx, &req) // fills the secret cache
	require.NoError(b, err)

	for b.Loop() {
		if _, err := e.server.Token(ctx, &req); err != nil {
			b.Fatal(err)
		}
	}
}
