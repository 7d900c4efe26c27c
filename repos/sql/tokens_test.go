package sql

import (
	dbsql "database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Two stores on one file stand for two Caddy instances sharing a database:
// they serialize through SQLite's file lock rather than one write pool.
func TestRotate_ConcurrentInstancesHaveOneWinner(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		stores := []*Store{open(), open()}
		now := time.Unix(1_700_000_000, 0)
		token := func(id string) repos.RefreshToken {
			return repos.RefreshToken{ID: "rt-" + id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}
		}
		r := token("0")
		require.NoError(t, stores[0].Issue(t.Context(), r))

		const n = 20
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				next := token(string(rune('a' + i)))
				<-start
				errs[i] = rotate(t.Context(), stores[i%2], r.ID, now, next)
			})
		}
		close(start)
		wg.Wait()

		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				continue
			}
			assert.True(t, errors.Is(err, repos.ErrTokenUsed) || errors.Is(err, repos.ErrTokenRevoked), "rotation %d: %v", i, err)
		}
		assert.Equal(t, 1, wins)
	})
}

// Every query a request runs must reach its rows through an index: a full
// scan of the token tables would grow with every token ever issued. Each
// database is asked for its plan, with a row of each table for the queries to
// find (MySQL plans a lookup of a missing key as "Impossible
// WHERE", which would prove nothing); PostgreSQL is told to avoid sequential
// scans wherever an index allows, since it prefers them on tables this small.
// go test -v shows the plans.
func TestQueriesUseIndexes(t *testing.T) {
	queries := []struct {
		name  string
		query string
		args  []any
	}{
		{"client", queryClient, []any{"x"}},
		{"user by username", queryUserByUsername, []any{"x"}},
		{"user by id", queryUserByID, []any{"x"}},
		{"scope", queryScope, []any{"x"}},
		{"refresh token state", queryRefreshState, []any{"x"}},
		{"access token", queryAccessToken, []any{"x", "x"}},
		{"consume refresh token", queryConsumeRefresh, []any{1, "y", "x", "x", 1}},
		{"refresh token status", queryRefreshStatus, []any{"x"}},
		{"successor", querySuccessor, []any{"x"}},
		{"access token family", queryAccessFamily, []any{"x"}},
		// The family revocation, the inserts and the denial of an access
		// token are INSERTs by primary key, with no plan to speak of.
	}
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		require.NoError(t, s.PutClient(t.Context(), repos.Client{ID: "x"}))
		require.NoError(t, s.PutUser(t.Context(), repos.User{ID: "x", Username: "x"}))
		require.NoError(t, s.PutScope(t.Context(), repos.Scope{ID: "x"}))
		require.NoError(t, s.Issue(t.Context(), repos.RefreshToken{ID: "x", FamilyID: "x", ClientID: "web",
			ExpiresAt: time.Now().Add(time.Hour), AccessTokenID: "x"}))
		require.NoError(t, s.RevokeFamily(t.Context(), "x"))
		require.NoError(t, s.DenyAccessToken(t.Context(), "x", time.Now().Add(time.Hour)))
		conn, err := s.write.Conn(t.Context())
		require.NoError(t, err)
		defer conn.Close()
		if s.dialect == postgresDialect {
			_, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off")
			require.NoError(t, err)
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				query := q.query
				if q.query == querySuccessor {
					query += s.dialect.forUpdate
				}
				require.Equal(t, strings.Count(query, "?"), len(q.args))
				plan := explain(t, conn, s.dialect, query, q.args)
				require.NotEmpty(t, plan)
				t.Logf("%s plan: %q", s.dialect.name, plan)
				for _, step := range plan {
					assert.NotRegexp(t, `^SCAN|Seq Scan|^type=(ALL|index) `, step, "query %q: plan %q", query, plan)
				}
			})
		}
	})
}

// explain returns the steps of the plan the database chooses for query: the
// detail column of SQLite, the lines of PostgreSQL's plan, and the access type
// and key of each table of MySQL's ("type=ALL" is a full scan, "type=index" a
// full index scan).
func explain(t *testing.T, conn *dbsql.Conn, d *dialect, query string, args []any) []string {
	t.Helper()
	prefix := "EXPLAIN "
	if d == sqliteDialect {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := conn.QueryContext(t.Context(), prefix+rebind(d.bind, query), args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		vals := make([]dbsql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		switch d {
		case sqliteDialect:
			plan = append(plan, vals[len(vals)-1].String) // detail
		case postgresDialect:
			plan = append(plan, strings.TrimSpace(vals[0].String))
		default:
			var typ, key string
			for i, c := range cols {
				switch c {
				case "type":
					typ = vals[i].String
				case "key":
					key = vals[i].String
				}
			}
			plan = append(plan, "type="+typ+" key="+key)
		}
	}
	require.NoError(t, rows.Err())
	return plan
}

// Retries of one token on two instances at once all get the one successor:
// the rotation that consumed the token recorded it, and each retry hands it
// out again with an access token of its own.
func TestRotate_ConcurrentInstancesShareOneSuccessor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		stores := []*Store{open(), open()}
		now := time.Unix(1_700_000_000, 0)
		token := func(id string) repos.RefreshToken {
			return repos.RefreshToken{ID: "rt-" + id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}
		}
		r := token("0")
		require.NoError(t, stores[0].Issue(t.Context(), r))

		const n = 20
		got := make([]repos.RefreshToken, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				next := token(string(rune('a' + i)))
				<-start
				got[i], errs[i] = stores[i%2].Rotate(t.Context(), repos.Rotation{
					OldID: r.ID, Now: now, Next: next, ReuseInterval: time.Minute, AccessExpiresAt: now.Add(time.Hour)})
			})
		}
		close(start)
		wg.Wait()

		for i := range n {
			require.NoError(t, errs[i], "rotation %d", i)
			assert.Equal(t, got[0].ID, got[i].ID, "rotation %d", i)
			state, err := stores[0].AccessToken(t.Context(), got[i].AccessTokenID)
			require.NoError(t, err)
			assert.Equal(t, repos.AccessTokenState{FamilyID: "f"}, state)
		}
		used, revoked, err := stores[0].RefreshTokenState(t.Context(), got[0].ID)
		require.NoError(t, err)
		assert.False(t, used)
		assert.False(t, revoked)
	})
}

// A retry must not hand out a successor that a rotation is consuming: it
// waits for the transaction that consumes it, and then finds it used, which
// makes the retry a replay. Here another instance's transaction has consumed
// the successor and not committed yet.
func TestRotate_RetryWaitsForARotationOfTheSuccessor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s, other := open(), open()
		ctx := t.Context()
		now := time.Now()
		token := func(id string) repos.RefreshToken {
			return repos.RefreshToken{ID: id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}
		}
		require.NoError(t, s.Issue(ctx, token("r1")))
		require.NoError(t, rotate(ctx, s, "r1", now, token("r2")))

		tx, err := other.write.BeginTx(ctx, other.dialect.txOptions)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		_, err = tx.ExecContext(ctx, rebind(other.dialect.bind, `UPDATE refresh_tokens SET used_at = ?, replaced_by = ? WHERE id = ?`),
			now.Unix(), "r3", "r2")
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() {
			_, err := s.Rotate(ctx, repos.Rotation{OldID: "r1", Now: now, Next: token("r4"),
				ReuseInterval: time.Minute, AccessExpiresAt: now.Add(time.Hour)})
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("the retry did not wait for the rotation of its successor: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		require.NoError(t, tx.Commit())
		assert.ErrorIs(t, <-done, repos.ErrTokenUsed)
		_, revoked, err := s.RefreshTokenState(ctx, "r2")
		require.NoError(t, err)
		assert.True(t, revoked, "the replay revoked the family")
	})
}
