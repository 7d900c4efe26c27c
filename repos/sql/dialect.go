package sql

import (
	"context"
	dbsql "database/sql"
	"strconv"
	"strings"
	"time"
)

// dialect is everything that differs between the databases the store runs on.
// The queries are written once, in the SQL the three databases share, with ?
// placeholders; a dialect supplies the rest, and its schema in
// migrations/<name>.
type dialect struct {
	// name is the driver name users write in the Caddyfile; it also names the
	// directory of the dialect's migrations.
	name string

	// bind is how the driver spells placeholders.
	bind bindStyle

	// connect opens the database behind dsn. SQLite admits one writer at a time,
	// so its write pool is a single connection; a server database returns the
	// same pool twice.
	connect func(ctx context.Context, dsn string) (pools, error)

	// isDuplicate reports whether err is a primary-key or unique violation.
	isDuplicate func(err error) bool

	// lockMigrations, if set, takes a lock that keeps other instances from
	// migrating: in tx, the migration transaction, where DDL is
	// transactional, and otherwise for conn's session until release is
	// called. Without it, the migration transaction itself must exclude them
	// (SQLite's BEGIN IMMEDIATE does).
	lockMigrations func(ctx context.Context, conn *dbsql.Conn, tx *dbsql.Tx) (release func(), err error)

	// transactionalDDL reports whether schema changes can be rolled back, so a
	// migration runs in one transaction; MySQL commits each DDL statement.
	transactionalDDL bool

	// isApplied, if set, reports whether a migration statement failed only
	// because it was applied already: where DDL is not transactional, a
	// migration interrupted by a crash runs again from its first statement.
	isApplied func(err error) bool

	// forUpdate completes a SELECT whose rows must not change until its
	// transaction ends: " FOR UPDATE" on the server databases, where another
	// transaction could otherwise commit a change to them in between.
	forUpdate string

	// txOptions are those of every token write transaction.
	txOptions *dbsql.TxOptions

	// isRetryable, if set, reports whether err aborted a transaction that may
	// succeed when run again: a deadlock or serialization failure.
	isRetryable func(err error) bool
	// isServerUnavailable, if set, reports the database's own ways of
	// saying it cannot answer now (busy, starting, shutting down, too many
	// connections), beyond the network errors every dialect shares.
	isServerUnavailable func(err error) bool
}

// pools are the connection pools of one database: read serves lookups outside
// transactions; write runs every transaction.
type pools struct {
	read, write *dbsql.DB
}

// close closes both pools once each.
func (p pools) close() error {
	err := p.write.Close()
	if p.read != p.write {
		if rerr := p.read.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// bindStyle is a placeholder syntax.
type bindStyle int

const (
	// bindQuestion is ?, as SQLite and MySQL take it.
	bindQuestion bindStyle = iota
	// bindDollar is $1, $2, ..., as PostgreSQL takes it.
	bindDollar
)

// rebind rewrites the ? placeholders of query into style. The queries of this
// package contain no ? inside string literals, so a plain scan suffices.
func rebind(style bindStyle, query string) string {
	if style == bindQuestion {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] != '?' {
			b.WriteByte(query[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// insertInto returns INSERT INTO table (columns) VALUES (?, ...).
func insertInto(table string, columns ...string) string {
	return "INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
}

// Connection pool settings of the server databases. A token request holds a
// connection for a lookup or two; the token writes of one instance run one
// transaction at a time (batch.go). Idle connections are kept, up to the
// limit, because opening one (TLS, authentication) costs more than a request.
const (
	serverMaxOpenConns    = 16
	serverConnMaxIdleTime = 5 * time.Minute
	serverConnMaxLifetime = time.Hour
)

// configureServerPool applies the pool settings of the server databases.
func configureServerPool(db *dbsql.DB) {
	db.SetMaxOpenConns(serverMaxOpenConns)
	db.SetMaxIdleConns(serverMaxOpenConns)
	db.SetConnMaxIdleTime(serverConnMaxIdleTime)
	db.SetConnMaxLifetime(serverConnMaxLifetime)
}
