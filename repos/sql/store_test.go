package sql

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestOpen_RejectsBadDriversAndDSNs(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "oauth2.db")
	tests := []struct {
		driver, dsn, want string
	}{
		{"oracle", dsn, `unknown sql driver "oracle" (want one of sqlite, postgres, mysql)`},
		{"SQLite", dsn, `unknown sql driver "SQLite" (want one of sqlite, postgres, mysql)`},
		{"sqlite", "", "sqlite DSN names no database file"},
		{"sqlite", "file:?mode=ro", "sqlite DSN names no database file"},
		{"sqlite", dsn + "?_txlock=%zz", "parsing sqlite DSN parameters"},
		{"postgres", "postgres://user:hunter2@127.0.0.1:1/oauth2?sslmode=bogus", "parsing postgres DSN"},
		{"postgres", "host=127.0.0.1 port=1 user=u password=hunter2 dbname=oauth2 sslmode=disable connect_timeout=2",
			"connecting to postgres database"},
		{"mysql", "user:hunter2@tcp(127.0.0.1:1)", "parsing mysql DSN"},
		{"mysql", "user:hunter2@tcp(127.0.0.1:1)/", "mysql DSN names no database"},
		{"mysql", "user:hunter2@tcp(127.0.0.1:1)/oauth2?timeout=2s", "connecting to mysql database"},
	}
	for _, tt := range tests {
		t.Run(tt.driver+" "+tt.dsn, func(t *testing.T) {
			s, err := Open(t.Context(), tt.driver, tt.dsn)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2", "errors must not repeat a DSN")
		})
	}
}

func TestOpen_CreatesPrivateDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "oauth2")
	file := filepath.Join(dir, "oauth2.db")
	openSQLite(t, file)

	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "directory")
	st, err = os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "database file")
}

func TestOpen_AcceptsFileURI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "oauth2.db")
	s := openSQLite(t, "file:"+file)
	require.NoError(t, s.PutScope(t.Context(), repos.Scope{ID: "read"}))
	_, err := os.Stat(file)
	assert.NoError(t, err, "the URI's path is the database file")
}

func TestOpen_PragmasOfTheDSNWin(t *testing.T) {
	file := filepath.Join(t.TempDir(), "oauth2.db")
	s := openSQLite(t, file+"?_pragma=busy_timeout(1000)&_pragma=journal_mode(TRUNCATE)")
	for name, db := range map[string]dbHandle{"write": s.write, "read": s.read} {
		assert.Equal(t, "1000", pragma(t, db, "busy_timeout"), name)
		assert.Equal(t, "truncate", pragma(t, db, "journal_mode"), name)
		assert.Equal(t, "1", pragma(t, db, "foreign_keys"), name, "the defaults it does not set still apply")
	}
}

func TestOpen_ConfiguresEveryConnection(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	for name, db := range map[string]dbHandle{"write": s.write, "read": s.read} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, "wal", pragma(t, db, "journal_mode"))
			assert.Equal(t, "5000", pragma(t, db, "busy_timeout"))
			assert.Equal(t, "1", pragma(t, db, "foreign_keys"))
			assert.Equal(t, "1", pragma(t, db, "synchronous"), "NORMAL")
			assert.Equal(t, "-65536", pragma(t, db, "cache_size"), "64 MiB")
		})
	}
	_, err := s.read.ExecContext(t.Context(), `DELETE FROM scopes`)
	assert.Error(t, err, "the read pool is query-only")
}

func TestOpen_InMemory(t *testing.T) {
	s := openSQLite(t, ":memory:")
	require.NoError(t, s.PutScope(t.Context(), repos.Scope{ID: "read"}))
	_, err := s.Scope(t.Context(), "read")
	assert.NoError(t, err, "reads see the one in-memory database the writes went to")
}

func TestOpen_MigratesOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "oauth2.db")

	// Instances starting together on a fresh file: each migration runs once.
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), "sqlite", file) })
	}
	wg.Wait()
	for i, s := range stores {
		require.NoError(t, errs[i])
		require.NoError(t, s.Close())
	}

	s := openSQLite(t, file)
	ms, err := migrations("sqlite")
	require.NoError(t, err)
	var count, version int
	require.NoError(t, s.read.QueryRowContext(t.Context(),
		`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&count, &version))
	assert.Equal(t, len(ms), count)
	assert.Equal(t, len(ms), version)
}

func TestOpen_RefusesNewerSchema(t *testing.T) {
	file := filepath.Join(t.TempDir(), "oauth2.db")
	s, err := Open(t.Context(), "sqlite", file)
	require.NoError(t, err)
	_, err = s.write.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	_, err = Open(t.Context(), "sqlite", file)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database schema version 999 is newer than this build's")
}

func TestClose_ClosesPools(t *testing.T) {
	s, err := Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Error(t, s.Ping(t.Context()))
}
