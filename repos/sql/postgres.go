package sql

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresDialect runs the store on PostgreSQL through pgx.
var postgresDialect = &dialect{
	name:             "postgres",
	bind:             bindDollar,
	connect:          connectPostgres,
	isDuplicate:      isPostgresDuplicate,
	lockMigrations:   lockPostgresMigrations,
	transactionalDDL: true,
	// READ COMMITTED whatever the server's or role's default: a rotation that
	// loses the race for a token reads, in its next statement, why it lost.
	txOptions:           &dbsql.TxOptions{Isolation: dbsql.LevelReadCommitted},
	isRetryable:         isPostgresRetryable,
	isServerUnavailable: isPostgresUnavailable,
	forUpdate:           " FOR UPDATE",
}

// postgresApplicationName is set on our connections unless the DSN names one,
// so that an operator finds them in pg_stat_activity.
const postgresApplicationName = "caddy-oauth2"

// connectPostgres opens a pool on the database named by dsn, a URL
// (postgres://user:pass@host:5432/db?sslmode=disable) or a key=value string,
// as pgx parses them.
func connectPostgres(ctx context.Context, dsn string) (pools, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the DSN, password included.
		return pools{}, errors.New("parsing postgres DSN: not a postgres:// URL or key=value string pgx accepts")
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = postgresApplicationName
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionResetSession(refuseStaleConnection))
	configureServerPool(db)
	return pools{read: db, write: db}, nil
}

// refuseStaleConnection runs before a pooled connection is reused. After a
// restart of the server every pooled connection is dead, and pgx pings only
// those idle for over a second: a busy pool would answer a burst of requests
// with errors. A connection the server has spoken on since its last answer
// is handed back as bad instead, so database/sql takes, or dials, another.
func refuseStaleConnection(_ context.Context, conn *pgx.Conn) error {
	if serverHasSpoken(conn.PgConn().Conn()) {
		return driver.ErrBadConn
	}
	return nil
}

// postgresMigrationLock is the key of the advisory lock that serialises
// migrations (any constant will do; this is "oauth2" in ASCII).
const postgresMigrationLock = 0x6f61757468_32

// lockPostgresMigrations takes a transaction advisory lock in the migration
// transaction, waiting for an instance that holds it to finish migrating. It
// is released when the transaction ends, so no unlock can fail or go to
// another server connection (as it could behind a pooler such as PgBouncer).
func lockPostgresMigrations(ctx context.Context, _ *dbsql.Conn, tx *dbsql.Tx) (func(), error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, postgresMigrationLock); err != nil {
		return nil, fmt.Errorf("taking the migration lock: %w", err)
	}
	return func() {}, nil
}

// isPostgresDuplicate reports whether err is a unique violation (SQLSTATE
// 23505), which primary keys raise too.
func isPostgresDuplicate(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// isPostgresRetryable reports a serialization failure (40001) or a deadlock
// the server broke by aborting this transaction (40P01).
func isPostgresRetryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
}

// isPostgresUnavailable reports a server that cannot take the request now:
// a connection error (class 08), an operator intervention such as a
// shutdown or a server still starting (57P01-57P03), too many connections
// or a full disk (class 53), or a failure to connect at all.
func isPostgresUnavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	// Class 53 is insufficient resources: a full disk, memory, too many
	// connections.
	return strings.HasPrefix(e.Code, "08") || strings.HasPrefix(e.Code, "53") ||
		e.Code == "57P01" || e.Code == "57P02" || e.Code == "57P03"
}
