package sql

import (
	"context"
	dbsql "database/sql"
	"testing"

	"github.com/stretchr/testify/require"
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
