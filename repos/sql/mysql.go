package sql

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlDialect runs the store on MySQL or MariaDB through go-sql-driver/mysql.
var mysqlDialect = &dialect{
	name:           "mysql",
	bind:           bindQuestion,
	connect:        connectMySQL,
	isDuplicate:    isMySQLDuplicate,
	lockMigrations: lockMySQLMigrations,
	// Each transaction reads what was committed before each statement, as in
	// PostgreSQL. Under MySQL's default REPEATABLE READ, a rotation that loses
	// the race for a token would read the token from its snapshot, still
	// unused, and could not tell the client why it lost.
	txOptions:           &dbsql.TxOptions{Isolation: dbsql.LevelReadCommitted},
	isRetryable:         isMySQLRetryable,
	isServerUnavailable: isMySQLUnavailable,
	isApplied:           isMySQLDuplicateColumn,
	forUpdate:           " FOR UPDATE",
}

// mysqlSQLMode makes the server refuse, rather than truncate, a value too long
// for its column: a truncated id would be another id.
const mysqlSQLMode = "'TRADITIONAL'"

// connectMySQL opens a pool on the database named by dsn, in go-sql-driver's
// form user:pass@tcp(host:3306)/db?params. The settings the store depends on
// are added here rather than demanded of the user.
func connectMySQL(ctx context.Context, dsn string) (pools, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return pools{}, errors.New("parsing mysql DSN: not in go-sql-driver's form user:password@tcp(host:3306)/database?param=value")
	}
	if cfg.DBName == "" {
		return pools{}, errors.New("mysql DSN names no database (user:password@tcp(host:3306)/database)")
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		cfg.Params["sql_mode"] = mysqlSQLMode
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return pools{}, errors.New("parsing mysql DSN: invalid parameters")
	}
	db := dbsql.OpenDB(connector)
	configureServerPool(db)
	return pools{read: db, write: db}, nil
}

// mysqlMigrationLock prefixes the name of the lock that serialises
// migrations; the database's name completes it, since MySQL's named locks are
// server-wide and other databases need not wait. A name has at most 64
// characters.
const mysqlMigrationLock = `LEFT(CONCAT('caddy-oauth2:', DATABASE()), 64)`

// lockMySQLMigrations takes a named lock for conn's session, waiting for an
// instance that holds it to finish migrating. Should the release fail, the
// connection is discarded rather than returned to the pool still holding the
// lock.
func lockMySQLMigrations(ctx context.Context, conn *dbsql.Conn, _ *dbsql.Tx) (func(), error) {
	timeout := 60
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(1, int(time.Until(deadline).Seconds()))
	}
	var got dbsql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+mysqlMigrationLock+`, ?)`, timeout).Scan(&got); err != nil {
		return nil, fmt.Errorf("taking the migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return nil, fmt.Errorf("taking the migration lock: another instance held it for %d s", timeout)
	}
	return func() {
		var released dbsql.NullInt64
		err := conn.QueryRowContext(context.Background(), `SELECT RELEASE_LOCK(`+mysqlMigrationLock+`)`).Scan(&released)
		if err != nil || released.Int64 != 1 {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

// isMySQLDuplicate reports whether err is ER_DUP_ENTRY, a primary-key or
// unique violation.
func isMySQLDuplicate(err error) bool {
	var e *mysql.MySQLError
	return errors.As(err, &e) && e.Number == 1062
}

// isMySQLDuplicateColumn reports ER_DUP_FIELDNAME: an ALTER TABLE ADD
// COLUMN of a migration run again after a crash found its column there.
func isMySQLDuplicateColumn(err error) bool {
	var e *mysql.MySQLError
	return errors.As(err, &e) && e.Number == 1060
}

// isMySQLRetryable reports a deadlock the server broke by aborting this
// transaction (ER_LOCK_DEADLOCK) or a lock wait that timed out
// (ER_LOCK_WAIT_TIMEOUT).
func isMySQLRetryable(err error) bool {
	var e *mysql.MySQLError
	return errors.As(err, &e) && (e.Number == 1213 || e.Number == 1205)
}

// isMySQLUnavailable reports a connection the driver found broken, or a
// server that refuses connections now or cannot write (a full table or
// disk).
func isMySQLUnavailable(err error) bool {
	if errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	var e *mysql.MySQLError
	// ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, ER_RECORD_FILE_FULL, ER_DISK_FULL.
	return errors.As(err, &e) && (e.Number == 1040 || e.Number == 1053 || e.Number == 1114 || e.Number == 1021)
}
