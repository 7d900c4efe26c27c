package sql

import (
	"context"
	dbsql "database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// dbHandle is what the helpers need of a pool.
type dbHandle interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *dbsql.Row
}

// pragma returns the value of an SQLite pragma on a connection of db.
func pragma(t *testing.T, db dbHandle, name string) string {
	t.Helper()
	var v string
	require.NoError(t, db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v))
	return v
}

// rotate rotates oldID into next at now with no reuse interval, for tests
// that need only the error.
func rotate(ctx context.Context, s *Store, oldID string, now time.Time, next repos.RefreshToken) error {
	_, err := s.Rotate(ctx, repos.Rotation{OldID: oldID, Now: now, Next: next})
	return err
}
