package sql

import (
	"errors"
	"path/filepath"
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
	file := filepath.Join(t.TempDir(), "oauth2.db")
	stores := []*Store{openSQLite(t, file), openSQLite(t, file)}
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
}

// Every query a request runs must reach its rows through an index: a full
// scan of the token tables would grow with every token ever issued.
func TestQueriesUseIndexes(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	queries := map[string]string{
		"client":                queryClient,
		"user by username":      queryUserByUsername,
		"user by id":            queryUserByID,
		"scope":                 queryScope,
		"refresh token state":   queryRefreshState,
		"access token revoked":  queryAccessRevoked,
		"consume refresh token": queryConsumeRefresh,
		"refresh token status":  queryRefreshStatus,
		"revoke family":         queryRevokeFamily,
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			args := make([]any, strings.Count(q, "?"))
			for i := range args {
				args[i] = "x"
			}
			rows, err := s.write.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
			require.NoError(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
				plan = append(plan, detail)
			}
			require.NoError(t, rows.Err())
			require.NotEmpty(t, plan)
			for _, step := range plan {
				assert.NotContains(t, step, "SCAN", "query %q: plan %q", q, plan)
			}
		})
	}
}
