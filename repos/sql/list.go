package sql

import (
	"context"
	dbsql "database/sql"
	"fmt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The listings below are for the command line, like the management methods
// of manage.go: they read whole tables, so no request calls them, and they
// are not prepared. Each is ordered by id so that its output is stable.

// ListClients returns every client, ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]repos.Client, error) {
	const q = `SELECT id, name, secret_hash, grants, scopes, default_scope, introspect FROM clients ORDER BY id`
	return list(ctx, s, "clients", q, func(rows *dbsql.Rows) (repos.Client, error) {
		var c repos.Client
		var grants, scopes, defaultScope dbsql.NullString
		err := rows.Scan(&c.ID, &c.Name, &c.SecretHash, &grants, &scopes, &defaultScope, &c.Introspect)
		c.Grants, c.Scopes, c.DefaultScope = splitList(grants), splitList(scopes), splitList(defaultScope)
		return c, err
	})
}

// ListUsers returns every user, ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]repos.User, error) {
	const q = `SELECT id, username, password_hash, scopes FROM users ORDER BY id`
	return list(ctx, s, "users", q, func(rows *dbsql.Rows) (repos.User, error) {
		var u repos.User
		var scopes dbsql.NullString
		err := rows.Scan(&u.ID, &u.Username, &u.PasswordHash, &scopes)
		u.Scopes = splitList(scopes)
		return u, err
	})
}

// ListScopes returns every scope, ordered by id.
func (s *Store) ListScopes(ctx context.Context) ([]repos.Scope, error) {
	const q = `SELECT id, description FROM scopes ORDER BY id`
	return list(ctx, s, "scopes", q, func(rows *dbsql.Rows) (repos.Scope, error) {
		var sc repos.Scope
		err := rows.Scan(&sc.ID, &sc.Description)
		return sc, err
	})
}

// list runs query on the read pool and scans every row with scan. The
// result is empty, not nil, when the table is, so that callers can tell "no
// rows" from an error without looking at the error twice.
func list[T any](ctx context.Context, s *Store, what, query string, scan func(*dbsql.Rows) (T, error)) ([]T, error) {
	rows, err := s.read.QueryContext(ctx, rebind(s.dialect.bind, query))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}
