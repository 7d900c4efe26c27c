package sql

import (
	"context"
	dbsql "database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema of each dialect as numbered files,
// migrations/<dialect>/NNNN_name.sql, applied in order and never edited once
// released: a schema change is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

// migrationsTable records the applied versions. Its DDL is the same in every
// dialect because it must exist before any dialect's migrations can run.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at BIGINT NOT NULL
)`

// migration is one numbered schema file.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations returns the dialect's migrations in version order. Versions must
// run 1, 2, 3... so that a missing or misnumbered file fails every test.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %v", err)
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name.sql", e.Name())
		}
		if version != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", e.Name(), version, len(ms)+1)
		}
		data, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %v", e.Name(), err)
		}
		ms = append(ms, migration{version: version, name: e.Name(), statements: splitStatements(string(data))})
	}
	return ms, nil
}

// splitStatements splits a migration file into statements, each ending with a
// semicolon at the end of a line, and drops "--" comment lines. One statement
// per Exec works with every driver; several in one Exec do not.
func splitStatements(script string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, strings.TrimSuffix(s, ";"))
		}
		cur.Reset()
	}
	for line := range strings.Lines(script) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			flush()
		}
	}
	flush()
	return stmts
}

// migrate brings the schema up to date. Instances starting together apply
// each migration once: each takes the dialect's migration lock, or the write
// lock of SQLite's BEGIN IMMEDIATE, and the later ones find nothing left to do.
// Where DDL is transactional (SQLite, PostgreSQL) all pending migrations
// commit together or not at all; MySQL commits each DDL statement, so its
// migrations are written to be run again (or their statements' second run
// fails in a way the dialect's isApplied recognises) and each is recorded when
// it is done.
func migrate(ctx context.Context, db *dbsql.DB, d *dialect) error {
	ms, err := migrations(d.name)
	if err != nil {
		return err
	}
	return migrateTo(ctx, db, d, ms)
}

// migrateTo applies ms, the dialect's migrations up to some version, as
// migrate applies them all; tests use it to make a database of an older
// version.
func migrateTo(ctx context.Context, db *dbsql.DB, d *dialect, ms []migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting for migrations: %w", err)
	}
	defer conn.Close()
	if d.transactionalDDL {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("beginning migration: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		if d.lockMigrations != nil {
			// Held until the transaction ends, however it ends.
			if _, err := d.lockMigrations(ctx, conn, tx); err != nil {
				return err
			}
		}
		if err := applyMigrations(ctx, tx, d, ms); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("committing migrations: %w", err)
		}
		return nil
	}
	if d.lockMigrations != nil {
		release, err := d.lockMigrations(ctx, conn, nil)
		if err != nil {
			return err
		}
		defer release()
	}
	return applyMigrations(ctx, conn, d, ms)
}

// execer is a transaction or a connection.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (dbsql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *dbsql.Row
}

// applyMigrations runs the migrations newer than the recorded version.
func applyMigrations(ctx context.Context, db execer, d *dialect, ms []migration) error {
	if _, err := db.ExecContext(ctx, migrationsTable); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this build's %d: upgrade the server", current, len(ms))
	}
	insert := rebind(d.bind, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`)
	for _, m := range ms[current:] {
		for _, stmt := range m.statements {
			if _, err := db.ExecContext(ctx, stmt); err != nil && (d.isApplied == nil || !d.isApplied(err)) {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if _, err := db.ExecContext(ctx, insert, m.version, time.Now().Unix()); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.name, err)
		}
	}
	return nil
}
