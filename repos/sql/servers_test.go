package sql

import (
	dbsql "database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/internal/testdb"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/repotest"
)

func TestConformance_PostgreSQL(t *testing.T) { conformance(t, "postgres") }
func TestConformance_MySQL(t *testing.T)      { conformance(t, "mysql") }

// conformance runs the repotest suite on a server database, each subtest in
// a database of its own.
func conformance(t *testing.T, driver string) {
	testdb.DSN(t, driver) // skip the whole suite, once, when not configured
	repotest.Run(t, func(t *testing.T, f repotest.Fixture) (repos.Definitions, repos.TokenStore) {
		s := openServer(t, driver)
		seed(t, s, f)
		return s, s
	})
}

// openServer opens a store on a fresh database of driver's server and closes
// it when the test ends.
func openServer(t testing.TB, driver string) *Store {
	t.Helper()
	s, err := Open(t.Context(), driver, testdb.New(t, driver))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// forEachDialect runs test once per database: SQLite always, the servers when
// their DSN is set. open opens another store on the subtest's one database, as
// another Caddy instance would; the first call creates it.
func forEachDialect(t *testing.T, test func(t *testing.T, open func() *Store)) {
	forEachDatabase(t, func(t *testing.T, driver, dsn string) {
		test(t, func() *Store {
			s, err := Open(t.Context(), driver, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			return s
		})
	})
}

// forEachDatabase runs test once per database, as forEachDialect does, with
// the driver and DSN of a fresh database of its own that nothing has opened.
func forEachDatabase(t *testing.T, test func(t *testing.T, driver, dsn string)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, sqliteDialect.name, filepath.Join(t.TempDir(), "oauth2.db"))
	})
	for _, driver := range testdb.Drivers {
		t.Run(driver, func(t *testing.T) {
			test(t, driver, testdb.New(t, driver))
		})
	}
}

// Instances starting together on an empty server database: each migration
// runs once, under the dialect's migration lock.
func TestOpen_ServersMigrateOnce(t *testing.T) {
	for _, driver := range testdb.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := testdb.New(t, driver)
			var wg sync.WaitGroup
			stores := make([]*Store, 4)
			errs := make([]error, len(stores))
			for i := range stores {
				wg.Go(func() { stores[i], errs[i] = Open(t.Context(), driver, dsn) })
			}
			wg.Wait()
			for i, s := range stores {
				require.NoError(t, errs[i])
				defer func() { require.NoError(t, s.Close()) }()
			}
			ms, err := migrations(driver)
			require.NoError(t, err)
			var count, version int
			require.NoError(t, stores[0].read.QueryRowContext(t.Context(),
				`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&count, &version))
			assert.Equal(t, len(ms), count)
			assert.Equal(t, len(ms), version)
		})
	}
}

// Ids and usernames match byte for byte on every database. MySQL's default
// collations would find "web" for "WEB" or "web ".
func TestLookups_MatchExactly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		require.NoError(t, s.PutClient(ctx, repos.Client{ID: "web", Name: "lower"}))
		require.NoError(t, s.PutClient(ctx, repos.Client{ID: "Web", Name: "upper"}), "a client differing in case is another client")
		require.NoError(t, s.PutUser(ctx, repos.User{ID: "u-1", Username: "alice"}))
		require.NoError(t, s.PutUser(ctx, repos.User{ID: "u-2", Username: "Alice"}), "a username differing in case is another user")

		c, err := s.Client(ctx, "Web")
		require.NoError(t, err)
		assert.Equal(t, "upper", c.Name)
		for _, id := range []string{"WEB", "web ", " web", "wéb"} {
			_, err := s.Client(ctx, id)
			assert.ErrorIs(t, err, repos.ErrNotFound, "client %q", id)
		}
		u, err := s.UserByUsername(ctx, "Alice")
		require.NoError(t, err)
		assert.Equal(t, "u-2", u.ID)
		for _, name := range []string{"ALICE", "alice ", "alicé"} {
			_, err := s.UserByUsername(ctx, name)
			assert.ErrorIs(t, err, repos.ErrNotFound, "username %q", name)
		}
	})
}

// The batcher runs a write again when the database aborted it to break a
// deadlock; that rests on telling those errors apart, so each server is made
// to abort one: two transactions lock two rows in opposite orders.
func TestIsRetryable_ARealDeadlock(t *testing.T) {
	for _, driver := range testdb.Drivers {
		t.Run(driver, func(t *testing.T) {
			s := openServer(t, driver)
			ctx := t.Context()
			require.NoError(t, s.PutScope(ctx, repos.Scope{ID: "a"}))
			require.NoError(t, s.PutScope(ctx, repos.Scope{ID: "b"}))
			update := rebind(s.dialect.bind, `UPDATE scopes SET description = ? WHERE id = ?`)

			txs := make([]*dbsql.Tx, 2)
			for i := range txs {
				tx, err := s.write.BeginTx(ctx, nil)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback() }()
				txs[i] = tx
			}
			_, err := txs[0].ExecContext(ctx, update, "x", "a")
			require.NoError(t, err)
			_, err = txs[1].ExecContext(ctx, update, "y", "b")
			require.NoError(t, err)

			errs := make([]error, 2)
			var wg sync.WaitGroup
			wg.Go(func() { _, errs[0] = txs[0].ExecContext(ctx, update, "x", "b") })
			wg.Go(func() { _, errs[1] = txs[1].ExecContext(ctx, update, "y", "a") })
			// Whichever the server aborts releases the other, which would
			// otherwise wait for a row the first one holds.
			wg.Wait()
			failed := 0
			for i, err := range errs {
				if err != nil {
					failed++
					assert.True(t, s.dialect.isRetryable(err), "transaction %d: %v", i, err)
				}
			}
			assert.Equal(t, 1, failed, "the server broke the deadlock by aborting one")
			assert.False(t, s.dialect.isRetryable(errors.New("connection reset")))
		})
	}
}
