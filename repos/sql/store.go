// Package sql keeps definitions (clients, users, scopes) and token state in a
// SQL database through database/sql. One Store implements both
// repos.Definitions and repos.TokenStore; its schema is created and upgraded by
// migrations embedded in the binary.
//
// The queries are the SQL the supported databases share; what differs (driver,
// placeholders, DDL, duplicate-key errors, migration locks) lives in a
// dialect: SQLite through the pure-Go modernc.org/sqlite, PostgreSQL through
// pgx, MySQL and MariaDB through go-sql-driver/mysql.
package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Store is a SQL database holding definitions and token state. It is safe for
// concurrent use, also by several processes sharing one database.
type Store struct {
	dialect *dialect
	pools
	stmts  statements
	writes *batcher // token writes, committed in groups

	purging sync.Mutex // held by the Purge in progress
}

// dialects are the databases Open supports, by driver name.
var dialects = map[string]*dialect{
	sqliteDialect.name:   sqliteDialect,
	postgresDialect.name: postgresDialect,
	mysqlDialect.name:    mysqlDialect,
}

// Drivers are the driver names Open accepts, for configuration to check
// early and to list in its errors.
var Drivers = []string{sqliteDialect.name, postgresDialect.name, mysqlDialect.name}

// Open connects to the database of the given driver ("sqlite", "postgres" or
// "mysql"), checks it answers and applies pending migrations, so that every
// problem shows at provision time rather than at the first request.
//
// The DSN is in the driver's own form. For sqlite it is a file path or a file:
// URI, optionally with modernc.org/sqlite parameters such as
// _pragma=busy_timeout(10000); the file and its directory are created. For
// postgres it is pgx's URL or key=value string; for mysql, go-sql-driver's
// user:pass@tcp(host:port)/db?params. Errors never repeat a DSN, which for a
// server database holds a password (a SQLite file's path may appear).
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	d, ok := dialects[driver]
	if !ok {
		return nil, fmt.Errorf("unknown sql driver %q (want one of %s)", driver, strings.Join(Drivers, ", "))
	}
	p, err := d.connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{dialect: d, pools: p}
	if err := s.Ping(ctx); err != nil {
		_ = p.close()
		return nil, err
	}
	if err := migrate(ctx, p.write, d); err != nil {
		_ = p.close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		_ = errors.Join(s.stmts.close(), s.pools.close())
		return nil, err
	}
	s.writes = newBatcher(s.write, d.txOptions, d.isRetryable, d.unavailable)
	return s, nil
}

// Close finishes the token writes in progress, then closes the prepared
// statements and the connection pools.
func (s *Store) Close() error {
	s.writes.close()
	return errors.Join(s.stmts.close(), s.pools.close())
}

// Ping checks that the database answers on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to %s database: %w", s.dialect.name, err)
	}
	if s.read != s.write {
		if err := s.read.PingContext(ctx); err != nil {
			return fmt.Errorf("connecting to %s database: %w", s.dialect.name, err)
		}
	}
	return nil
}

// joinList encodes a list for a nullable TEXT column: nil stays NULL ("no
// restriction"), an empty list is "".
func joinList(l []string) any {
	if l == nil {
		return nil
	}
	return strings.Join(l, " ")
}

// splitList decodes a column written by joinList.
func splitList(s dbsql.NullString) []string {
	if !s.Valid {
		return nil
	}
	if f := strings.Fields(s.String); f != nil {
		return f
	}
	return []string{}
}

// Interface guards.
var (
	_ repos.Definitions = (*Store)(nil)
	_ repos.TokenStore  = (*Store)(nil)
)
