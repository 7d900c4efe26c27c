package sql

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// benchToken returns a refresh token of family, recording its access token,
// with ids shaped like tokens.NewID's so the b-trees see realistic keys.
func benchToken(family string, now time.Time) repos.RefreshToken {
	return repos.RefreshToken{
		ID: benchID(), FamilyID: family, ClientID: "web", UserID: "u-1001",
		Scopes: []string{"read", "write"}, ExpiresAt: now.Add(30 * 24 * time.Hour),
		AccessTokenID: benchID(),
	}
}

// benchID is shaped like production ids, time-ordered.
func benchID() string { return tokens.NewID() }

// BenchmarkRotate measures one refresh: each iteration rotates the token the
// previous one issued, as a client refreshing in a loop does.
func BenchmarkRotate(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db"))
	now := time.Now()
	family := benchID()
	r := benchToken(family, now)
	require.NoError(b, s.Issue(b.Context(), r))
	b.ReportAllocs()
	for b.Loop() {
		next := benchToken(family, now)
		if err := s.Rotate(b.Context(), r.ID, now, next); err != nil {
			b.Fatal(err)
		}
		r = next
	}
}

// BenchmarkRotateParallel measures refreshes from many clients at once, which
// SQLite's single writer serializes.
func BenchmarkRotateParallel(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db"))
	now := time.Now()
	b.ReportAllocs()
	b.SetParallelism(8) // 16 writers on 2 processors, like the load test's 16 connections
	b.RunParallel(func(pb *testing.PB) {
		family := benchID()
		r := benchToken(family, now)
		if err := s.Issue(b.Context(), r); err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			next := benchToken(family, now)
			if err := s.Rotate(b.Context(), r.ID, now, next); err != nil {
				b.Error(err)
				return
			}
			r = next
		}
	})
}

// BenchmarkIssue measures a fresh grant: a refresh token and the access token
// recorded in its row.
func BenchmarkIssue(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db"))
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Issue(b.Context(), benchToken(benchID(), now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientParallel measures the lookup every request starts with.
func BenchmarkClientParallel(b *testing.B) {
	s := openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db"))
	require.NoError(b, s.PutClient(b.Context(), repos.Client{
		ID: "web", SecretHash: "$2a$04$x", Grants: []string{"password", "refresh_token"}, Scopes: []string{"read"},
	}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Client(b.Context(), "web"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
