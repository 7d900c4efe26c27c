package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialect runs the store on an SQLite file through modernc.org/sqlite,
// which needs no CGO.
var sqliteDialect = &dialect{
	name:                "sqlite",
	bind:                bindQuestion,
	connect:             connectSQLite,
	isDuplicate:         isSQLiteDuplicate,
	isServerUnavailable: isSQLiteUnavailable,
	// BEGIN IMMEDIATE (the DSN's _txlock) makes the migration transaction
	// the migration lock.
	transactionalDDL: true,
	// No FOR UPDATE, which SQLite does not parse, and no need of it: a write
	// transaction holds the database's one write lock from its BEGIN
	// IMMEDIATE to its end, so no other transaction, of this process or
	// another, can change a row it has read.
}

// sqliteBusyTimeout is how long a writer waits for another process's write
// lock before failing.
const sqliteBusyTimeout = 5 * time.Second

// sqlitePragmas are set on every connection unless the DSN sets them itself.
// busy_timeout makes a writer wait for another process's write instead of
// failing at once. synchronous=NORMAL is safe against corruption in WAL mode
// (a power cut may lose the last commits, not the file). cache_size lets the
// one writer keep up to 64 MiB of pages in memory (the default is 2 MiB), so
// that in a table of a million tokens the pages of live ones are not read back
// from the kernel by every rotation; a cache grows only as pages are read, and
// the readers read only the small definition tables.
var sqlitePragmas = []struct{ name, value string }{
	{"busy_timeout", strconv.Itoa(int(sqliteBusyTimeout.Milliseconds()))},
	{"cache_size", "-65536"},
	{"foreign_keys", "ON"},
	{"synchronous", "NORMAL"},
}

// connectSQLite opens the database file named by dsn (a path or a file: URI,
// with optional driver parameters), creating it and its directory, and
// returns a pool of readers and a write pool of one connection.
//
// SQLite admits one writer at a time. Within this process the write pool
// queues writers in Go: with 16 goroutines rotating at once, that is about 1.5
// times the throughput of a shared pool whose writers wait in SQLite's
// sleeping busy handler, and a worst case of tens of milliseconds instead of
// hundreds. Across processes, BEGIN IMMEDIATE (_txlock=immediate) takes the
// write lock when a transaction starts, so a rotation waits for another
// instance's (busy_timeout) instead of failing with SQLITE_BUSY when its read
// lock cannot be upgraded.
func connectSQLite(ctx context.Context, dsn string) (pools, error) {
	c, err := parseSQLiteDSN(dsn)
	if err != nil {
		return pools{}, err
	}
	if !c.memory {
		if err := createSQLiteFile(c.file); err != nil {
			return pools{}, err
		}
	}
	write, err := dbsql.Open("sqlite", c.dsn)
	if err != nil {
		return pools{}, fmt.Errorf("opening sqlite database: %v", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if c.memory {
		// Every connection to :memory: is a database of its own: one connection
		// must serve both reads and writes.
		return pools{read: write, write: write}, nil
	}
	if c.wal {
		if err := useWAL(ctx, write); err != nil {
			_ = write.Close()
			return pools{}, err
		}
	}

	// The readers cannot write, so every transaction starts on the write pool
	// and takes its place in its queue.
	read, err := dbsql.Open("sqlite", c.dsn+"&_query_only=1")
	if err != nil {
		_ = write.Close()
		return pools{}, fmt.Errorf("opening sqlite database: %v", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	return pools{read: read, write: write}, nil
}

// sqliteConfig is a user's DSN completed with the store's settings.
type sqliteConfig struct {
	dsn    string // for the driver
	file   string // the database file
	memory bool   // an in-memory database, which has no file
	wal    bool   // switch to WAL: the DSN chose no journal mode
}

// parseSQLiteDSN adds the store's connection settings to a user's DSN,
// leaving any pragma the user set alone.
func parseSQLiteDSN(dsn string) (sqliteConfig, error) {
	path, query, _ := strings.Cut(dsn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return sqliteConfig{}, fmt.Errorf("parsing sqlite DSN parameters: %v", err)
	}
	c := sqliteConfig{file: sqliteFilePath(path)}
	if c.file == "" {
		return sqliteConfig{}, errors.New("sqlite DSN names no database file")
	}
	c.memory = c.file == ":memory:" || params.Get("mode") == "memory"
	c.wal = !c.memory && !hasPragma(params["_pragma"], "journal_mode")
	for _, p := range sqlitePragmas {
		if !hasPragma(params["_pragma"], p.name) {
			params.Add("_pragma", p.name+"("+p.value+")")
		}
	}
	params.Set("_txlock", "immediate")
	c.dsn = path + "?" + params.Encode()
	return c, nil
}

// useWAL switches the database to WAL journal mode, which lets readers
// proceed while a rotation writes. The mode is a property of the file, so it
// is set once here rather than on every connection: the switch needs an
// exclusive lock, and SQLite refuses it with SQLITE_BUSY, without waiting, when
// instances opening a new file at once both hold a read lock. Such refusals
// are retried.
func useWAL(ctx context.Context, db *dbsql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			return nil
		}
		if !isSQLiteBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("enabling sqlite WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("enabling sqlite WAL mode: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// SQLiteFile returns the database file that a sqlite DSN names, a plain path
// or a file: URI, without its parameters; ":memory:" for an in-memory
// database. Open creates the file; a caller that must not create one (the
// command line, looking for a database that Caddy has made) checks for it
// first.
func SQLiteFile(dsn string) string {
	path, _, _ := strings.Cut(dsn, "?")
	return sqliteFilePath(path)
}

// sqliteFilePath returns the file path of the database part of a DSN, which is
// either a plain path or a file: URI.
func sqliteFilePath(path string) string {
	if rest, ok := strings.CutPrefix(path, "file:"); ok {
		path = rest
		if rest, ok := strings.CutPrefix(path, "//"); ok {
			// file://host/path: SQLite accepts only an empty host or localhost.
			_, p, _ := strings.Cut(rest, "/")
			path = "/" + p
		}
		if p, err := url.PathUnescape(path); err == nil {
			path = p
		}
	}
	return path
}

// createSQLiteFile creates the database file, and the directories above it,
// readable by the owner only before SQLite sees it: the tables hold password
// hashes and token state, and SQLite gives its -wal and -shm files the
// permissions of the database file.
func createSQLiteFile(file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("creating database directory: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating database file: %w", err)
	}
	return f.Close()
}

// hasPragma reports whether pragmas, values of _pragma such as
// "busy_timeout(5000)" or "journal_mode=WAL", set the pragma name.
func hasPragma(pragmas []string, name string) bool {
	for _, p := range pragmas {
		p = strings.TrimSpace(p)
		end := strings.IndexAny(p, "(= ")
		if end < 0 {
			end = len(p)
		}
		if strings.EqualFold(p[:end], name) {
			return true
		}
	}
	return false
}

// isSQLiteBusy reports whether err is an SQLITE_BUSY of any kind.
func isSQLiteBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isSQLiteDuplicate reports whether err is a PRIMARY KEY or UNIQUE violation.
// The driver enables extended result codes, which tell these two apart from
// the other constraint failures.
func isSQLiteDuplicate(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// isSQLiteUnavailable reports a database another connection or process
// holds locked for longer than the busy timeout, or one that cannot be
// written (a full disk, an I/O error): the operator's to fix, and a retry
// may succeed once they have.
func isSQLiteUnavailable(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}
