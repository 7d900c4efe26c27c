// Package testdb gives tests a throwaway PostgreSQL schema or MySQL database
// of their own on the servers named by environment variables, so that the SQL
// backends are tested against real servers, never mocks. Without the
// variable, the tests that need a server skip and say how to enable them.
package testdb

import (
	"context"
	"crypto/rand"
	dbsql "database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// The environment variables naming the servers. .ci/run sets them; locally,
// for example:
//
//	OAUTH2_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	OAUTH2_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test'
const (
	PostgresEnv = "OAUTH2_TEST_POSTGRES_DSN"
	MySQLEnv    = "OAUTH2_TEST_MYSQL_DSN"
)

// Drivers are the server databases, by the driver name of `repository sql`.
var Drivers = []string{"postgres", "mysql"}

// envOf returns the variable that names driver's server.
func envOf(driver string) string {
	if driver == "postgres" {
		return PostgresEnv
	}
	return MySQLEnv
}

// DSN returns the DSN of the server for driver, skipping t if it is not set.
func DSN(t testing.TB, driver string) string {
	t.Helper()
	env := envOf(driver)
	dsn := os.Getenv(env)
	if dsn == "" {
		t.Skipf("%s tests skipped: set %s to a DSN of a server where they may create databases "+
			"(e.g. %s), as .ci/run does", driver, env, example(driver))
	}
	return dsn
}

func example(driver string) string {
	if driver == "postgres" {
		return "'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'"
	}
	return "'root@tcp(127.0.0.1:3306)/test'"
}

// New creates an empty database for t on driver's server (a schema of its
// own for PostgreSQL, a database for MySQL), drops it when t ends, and returns
// its DSN in the driver's form. It skips t if the server is not configured.
func New(t testing.TB, driver string) string {
	t.Helper()
	base := DSN(t, driver)
	name := "oauth2_t_" + strings.ToLower(rand.Text()[:12])
	admin, err := dbsql.Open(adminDriver(driver), base)
	if err != nil {
		t.Fatalf("opening %s admin connection: %v", driver, err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var dsn string
	switch driver {
	case "postgres":
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
			t.Fatalf("creating postgres schema: %v", err)
		}
		dsn = WithPostgresParam(base, "search_path", name)
	default:
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatalf("creating mysql database: %v", err)
		}
		cfg, err := mysql.ParseDSN(base)
		if err != nil {
			t.Fatalf("parsing %s: %v", MySQLEnv, err)
		}
		cfg.DBName = name
		dsn = cfg.FormatDSN()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		drop := "DROP DATABASE " + name
		if driver == "postgres" {
			drop = "DROP SCHEMA " + name + " CASCADE"
		}
		if _, err := admin.ExecContext(ctx, drop); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return dsn
}

// Admin opens a connection to driver's server for queries a test makes
// behind the store's back (pg_stat_activity, say).
func Admin(t testing.TB, driver string) *dbsql.DB {
	t.Helper()
	db, err := dbsql.Open(adminDriver(driver), DSN(t, driver))
	if err != nil {
		t.Fatalf("opening %s admin connection: %v", driver, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func adminDriver(driver string) string {
	if driver == "postgres" {
		return "pgx"
	}
	return "mysql"
}

// WithPostgresParam returns a PostgreSQL DSN, URL or key=value, with the
// run-time parameter key set to value (pgx sends parameters it does not know
// itself, such as search_path or application_name, to the server).
func WithPostgresParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return fmt.Sprintf("%s %s=%s", dsn, key, value)
}
