package sql

import (
	"context"
	dbsql "database/sql"
	"strconv"
	"strings"
)

// dialect is everything that differs between the databases the store runs on.
// The queries are written once, in the SQL the three databases share, with ?
// placeholders; a dialect supplies the rest. Adding PostgreSQL or MySQL means
// writing one more dialect value and its migrations directory, nothing else.
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

	// upsert returns an INSERT of columns into table that updates the row whose
	// key (the first column) already exists. Plain INSERT is the "insert or fail
	// on duplicate" of every dialect; only the update-on-conflict clause differs.
	upsert func(table string, columns ...string) string

	// isDuplicate reports whether err is a primary-key or unique violation.
	isDuplicate func(err error) bool
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

// upsertOnConflict is the upsert of SQLite and PostgreSQL:
// INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col.
func upsertOnConflict(table string, columns ...string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES (")
	b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", "))
	b.WriteString(") ON CONFLICT (" + columns[0] + ") DO UPDATE SET ")
	for i, c := range columns[1:] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}
