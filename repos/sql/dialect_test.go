package sql

import (
	dbsql "database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRebind(t *testing.T) {
	tests := []struct {
		style       bindStyle
		query, want string
	}{
		{bindQuestion, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{bindDollar, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{bindDollar, "DELETE FROM t", "DELETE FROM t"},
		{bindDollar, "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rebind(tt.style, tt.query))
	}
}

func TestHasPragma(t *testing.T) {
	pragmas := []string{"busy_timeout(100)", " Journal_Mode = wal", "foreign_keys"}
	for _, name := range []string{"busy_timeout", "journal_mode", "foreign_keys"} {
		assert.True(t, hasPragma(pragmas, name), name)
	}
	assert.False(t, hasPragma(pragmas, "synchronous"))
	assert.False(t, hasPragma([]string{"busy_timeout_extra(1)"}, "busy_timeout"))
}

func TestSQLiteFilePath(t *testing.T) {
	tests := map[string]string{
		"/var/lib/oauth2.db":            "/var/lib/oauth2.db",
		"relative/oauth2.db":            "relative/oauth2.db",
		"file:/var/lib/oauth2.db":       "/var/lib/oauth2.db",
		"file:///var/lib/oauth2.db":     "/var/lib/oauth2.db",
		"file://localhost/var/a%20b.db": "/var/a b.db",
		"file:relative.db":              "relative.db",
		":memory:":                      ":memory:",
		"file::memory:":                 ":memory:",
	}
	for dsn, want := range tests {
		assert.Equal(t, want, sqliteFilePath(dsn), dsn)
	}
}

func TestIsSQLiteDuplicate_OtherErrors(t *testing.T) {
	assert.False(t, isSQLiteDuplicate(errors.New("UNIQUE constraint failed")), "text is not enough")
	assert.False(t, isSQLiteDuplicate(dbsql.ErrNoRows))
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		name string
		in   dbsql.NullString
		want []string
	}{
		{"NULL is no restriction", dbsql.NullString{}, nil},
		{"empty string is an empty list", dbsql.NullString{Valid: true}, []string{}},
		{"blank is an empty list", dbsql.NullString{String: "  ", Valid: true}, []string{}},
		{"values", dbsql.NullString{String: "read  write", Valid: true}, []string{"read", "write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, splitList(tt.in))
		})
	}
}

func TestSQLiteFile(t *testing.T) {
	for dsn, want := range map[string]string{
		"/var/lib/caddy/oauth2.db":                         "/var/lib/caddy/oauth2.db",
		"/var/lib/caddy/oauth2.db?_pragma=busy_timeout(1)": "/var/lib/caddy/oauth2.db",
		"file:/var/lib/my%20caddy/oauth2.db?mode=rwc":      "/var/lib/my caddy/oauth2.db",
		"file:///var/lib/caddy/oauth2.db":                  "/var/lib/caddy/oauth2.db",
		":memory:":                                         ":memory:",
	} {
		assert.Equal(t, want, SQLiteFile(dsn), dsn)
	}
}
