package sql

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
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
	b.ReportAllocs()
	rotateInALoop(b, openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db")))
}

// rotateInALoop rotates, each iteration the token the previous one issued.
func rotateInALoop(b *testing.B, s *Store) {
	now := time.Now()
	family := benchID()
	r := benchToken(family, now)
	require.NoError(b, s.Issue(b.Context(), r))
	for b.Loop() {
		next := benchToken(family, now)
		if _, err := s.Rotate(b.Context(), repos.Rotation{OldID: r.ID, Now: now, Next: next}); err != nil {
			b.Fatal(err)
		}
		r = next
	}
}

// BenchmarkRotateParallel measures refreshes from many clients at once, which
// SQLite's single writer serializes.
func BenchmarkRotateParallel(b *testing.B) {
	b.ReportAllocs()
	rotateInParallel(b, openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db")))
}

// rotateInParallel rotates 16 chains at once.
func rotateInParallel(b *testing.B, s *Store) {
	now := time.Now()
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
			if _, err := s.Rotate(b.Context(), repos.Rotation{OldID: r.ID, Now: now, Next: next}); err != nil {
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

// BenchmarkRotateStored measures a rotation against a token table of 1,000
// and of 1,000,000 stored refresh tokens, to show that a request's cost does
// not grow with the data: every statement of a rotation reaches its rows by
// primary key or unique index. The stored tokens are 10 per family (9 used,
// 1 live) with ids spread over the last 30 days as tokens.NewID makes them.
//
// Two access patterns: "loop" is clients refreshing in a loop, each
// presenting the token it was just given (BenchmarkRotate's pattern, with the
// table full); "random" presents the live token of a random family, as
// clients coming back at random times over 30 days do, so the consuming write
// lands on a random page of the table: the worst case for caches and for
// group commit. "serial" is one client, a commit per rotation; "parallel" is
// 16 clients, whose rotations share commits as under load. The server
// databases run when their DSN is set.
func BenchmarkRotateStored(b *testing.B) {
	for _, driver := range []string{"sqlite", "postgres", "mysql"} {
		for _, pattern := range []string{"loop", "random"} {
			for _, mode := range []string{"serial", "parallel"} {
				for _, n := range []int{1_000, 1_000_000} {
					name := fmt.Sprintf("%s/%s/%s/tokens=%d", driver, pattern, mode, n)
					b.Run(name, func(b *testing.B) { benchmarkRotateStored(b, driver, pattern, mode, n) })
				}
			}
		}
	}
}

func benchmarkRotateStored(b *testing.B, driver, pattern, mode string, n int) {
	var s *Store
	if driver == "sqlite" {
		s = openSQLite(b, filepath.Join(b.TempDir(), "oauth2.db"))
	} else {
		s = openServer(b, driver)
	}
	live := fillTokens(b, s, n)
	warmUp(b, s)
	pick := func(rng *rand.Rand, n int) int { return rng.IntN(n) }
	if pattern == "loop" {
		pick = func(*rand.Rand, int) int { return 0 }
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	if mode == "parallel" {
		var worker atomic.Int32
		const workers = 16
		b.SetParallelism(workers / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			// Each client has families of its own: two never hold one
			// family's token.
			w := int(worker.Add(1)-1) % workers
			share := len(live) / workers
			rotateLive(b, s, live[w*share:(w+1)*share], pick, pb.Next)
		})
	} else {
		rotateLive(b, s, live, pick, b.Loop)
	}
	// CPU time is steadier than wall time on a shared VM, and is what bounds
	// throughput once commits are grouped under load.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// rotateLive rotates the live token of the family of live that pick chooses
// while next says to go on, and records each successor as the family's live
// token.
func rotateLive(b *testing.B, s *Store, live []liveToken, pick func(*rand.Rand, int) int, next func() bool) {
	now := time.Now()
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for next() {
		i := pick(rng, len(live))
		successor := benchToken(live[i].family, now)
		if _, err := s.Rotate(b.Context(), repos.Rotation{OldID: live[i].id, Now: now, Next: successor}); err != nil {
			b.Error(err)
			return
		}
		live[i].id = successor.ID
	}
}

// processCPU returns the CPU time this process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// warmUp reads the token tables through the connection that rotates, as the
// rotations of a server that has been running for a while have, so that the
// benchmark measures that server rather than the first minutes after a start.
func warmUp(b *testing.B, s *Store) {
	b.Helper()
	// Counting a column no index holds makes each database read the table.
	for _, q := range []string{"SELECT COUNT(used_at) FROM refresh_tokens", "SELECT COUNT(revoked_at) FROM token_families"} {
		var n int
		require.NoError(b, s.write.QueryRowContext(b.Context(), q).Scan(&n))
	}
}

// liveToken is the one unused refresh token of a family.
type liveToken struct{ id, family string }

// tokensPerFamily is the length of each stored family's rotation chain.
const tokensPerFamily = 10

// fillTokens stores n refresh tokens, tokensPerFamily to a family, with
// multi-row INSERTs in large transactions (going through Issue and Rotate
// would take an hour for a million), and returns each family's live token.
func fillTokens(b *testing.B, s *Store, n int) []liveToken {
	b.Helper()
	ctx := b.Context()
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(n)
	families := n / tokensPerFamily
	live := make([]liveToken, families)
	for f := range live {
		live[f].family = benchIDAt(start.Add(step * time.Duration(f)))
	}

	const rowsPerInsert = 500
	insertTokens := insertInto("refresh_tokens", "id", "family_id", "client_id", "user_id", "scopes",
		"expires_at", "access_token_id", "used_at")
	insertFamilies := insertInto("token_families", "id", "revoked_at")
	tokenValues := ", (" + strings.TrimSuffix(strings.Repeat("?, ", 8), ", ") + ")"
	familyValues := ", (?, ?)"

	tx, err := s.write.BeginTx(ctx, nil)
	require.NoError(b, err)
	var tokenArgs, familyArgs []any
	flush := func(force bool) {
		if len(tokenArgs) >= rowsPerInsert*8 || (force && len(tokenArgs) > 0) {
			q := insertTokens + strings.Repeat(tokenValues, len(tokenArgs)/8-1)
			_, err := tx.ExecContext(ctx, rebind(s.dialect.bind, q), tokenArgs...)
			require.NoError(b, err)
			tokenArgs = tokenArgs[:0]
		}
		if len(familyArgs) >= rowsPerInsert*2 || (force && len(familyArgs) > 0) {
			q := insertFamilies + strings.Repeat(familyValues, len(familyArgs)/2-1)
			_, err := tx.ExecContext(ctx, rebind(s.dialect.bind, q), familyArgs...)
			require.NoError(b, err)
			familyArgs = familyArgs[:0]
		}
	}
	// Tokens are created in time order, the families interleaved: the i-th
	// token is the (i / families)-th of family i % families.
	for i := range n {
		f := i % families
		id := benchIDAt(start.Add(step * time.Duration(i)))
		var usedAt any = now.Unix()
		if i/families == tokensPerFamily-1 {
			usedAt = nil
			live[f].id = id
		}
		if i < families {
			familyArgs = append(familyArgs, live[f].family, nil)
		}
		tokenArgs = append(tokenArgs, id, live[f].family, "web", "u-1001", "read write",
			now.Add(30*24*time.Hour).Unix(), benchIDAt(start.Add(step*time.Duration(i))), usedAt)
		flush(false)
		if i%50_000 == 49_999 {
			flush(true)
			require.NoError(b, tx.Commit())
			tx, err = s.write.BeginTx(ctx, nil)
			require.NoError(b, err)
		}
	}
	flush(true)
	require.NoError(b, tx.Commit())
	if s.dialect == postgresDialect {
		// Fresh statistics, and the filling's checkpoint done before the
		// timer starts rather than during the measurement.
		for _, q := range []string{"ANALYZE", "CHECKPOINT"} {
			_, err := s.write.ExecContext(ctx, q)
			require.NoError(b, err)
		}
	}
	return live
}

// benchIDAt is an id of the form tokens.NewID gives at time t.
func benchIDAt(t time.Time) string {
	var b [8 + 26]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli()))
	_, _ = crand.Read(b[8:])
	out := make([]byte, tokens.IDLength)
	hex.Encode(out[:12], b[2:8])
	base64.RawURLEncoding.Encode(out[12:], b[8:])
	return string(out)
}

// BenchmarkRotateSynchronous compares SQLite's synchronous=NORMAL, the
// default here (in WAL mode a power cut may lose the last commits, never
// the file), with FULL (an fsync per commit: an answered rotation survives
// a power cut), for one client refreshing in a loop and for 16 at once,
// whose commits the store groups.
func BenchmarkRotateSynchronous(b *testing.B) {
	for _, mode := range []string{"NORMAL", "FULL"} {
		open := func(b *testing.B) *Store {
			return openSQLite(b, "file:"+filepath.Join(b.TempDir(), "oauth2.db")+"?_pragma=synchronous("+mode+")")
		}
		b.Run(mode+"/1_client", func(b *testing.B) { rotateInALoop(b, open(b)) })
		b.Run(mode+"/16_clients", func(b *testing.B) { rotateInParallel(b, open(b)) })
	}
}
