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
				errs[i] = stores[i%2].Rotate(t.Context(), r.ID, now, next)
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
// database is asked for its plan; PostgreSQL is told to avoid sequential scans
// wherever an index allows, since it prefers them on tables this small.
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
		{"access token revoked", queryAccessRevoked, []any{"x"}},
		{"consume refresh token", queryConsumeRefresh, []any{1, "x", "x", 1}},
		{"refresh token status", queryRefreshStatus, []any{"x"}},
		// The family revocation is an INSERT by primary key, with no plan
		// to speak of.
	}
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		conn, err := s.write.Conn(t.Context())
		require.NoError(t, err)
		defer conn.Close()
		if s.dialect == postgresDialect {
			_, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off")
			require.NoError(t, err)
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				require.Equal(t, strings.Count(q.query, "?"), len(q.args))
				plan := explain(t, conn, s.dialect, q.query, q.args)
				require.NotEmpty(t, plan)
				for _, step := range plan {
					assert.NotRegexp(t, `^SCAN|Seq Scan|^type=(ALL|index)$`, step, "query %q: plan %q", q.query, plan)
				}
			})
		}
	})
}

// explain returns the steps of the plan the database chooses for query: the
// detail column of SQLite, the lines of PostgreSQL's plan, and the access type
// of each table of MySQL's ("ALL" is a full scan, "index" a full index scan).
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
			for i, c := range cols {
				if c == "type" {
					plan = append(plan, "type="+vals[i].String)
				}
			}
		}
	}
	require.NoError(t, rows.Err())
	return plan
}
