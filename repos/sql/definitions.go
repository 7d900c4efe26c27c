package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Client returns the client with the given id, or repos.ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*repos.Client, error) {
	if !storable(id) {
		return nil, notFound("client")
	}
	c := repos.Client{ID: id}
	var grants, scopes, defaultScope dbsql.NullString
	err := s.stmts.client.QueryRowContext(ctx, id).Scan(&c.Name, &c.SecretHash, &grants, &scopes, &defaultScope, &c.Introspect)
	if err != nil {
		return nil, s.lookupError("client", err)
	}
	c.Grants, c.Scopes, c.DefaultScope = splitList(grants), splitList(scopes), splitList(defaultScope)
	return &c, nil
}

// UserByUsername returns the user with the given username, or repos.ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (*repos.User, error) {
	return s.user(ctx, s.stmts.userByUsername, username)
}

// UserByID returns the user with the given id, or repos.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*repos.User, error) {
	return s.user(ctx, s.stmts.userByID, id)
}

func (s *Store) user(ctx context.Context, stmt *dbsql.Stmt, key string) (*repos.User, error) {
	if !storable(key) {
		return nil, notFound("user")
	}
	var u repos.User
	var scopes dbsql.NullString
	if err := stmt.QueryRowContext(ctx, key).Scan(&u.ID, &u.Username, &u.PasswordHash, &scopes); err != nil {
		return nil, s.lookupError("user", err)
	}
	u.Scopes = splitList(scopes)
	return &u, nil
}

// Scope returns the scope with the given id, or repos.ErrNotFound.
func (s *Store) Scope(ctx context.Context, id string) (*repos.Scope, error) {
	if !storable(id) {
		return nil, notFound("scope")
	}
	sc := repos.Scope{ID: id}
	if err := s.stmts.scope.QueryRowContext(ctx, id).Scan(&sc.Description); err != nil {
		return nil, s.lookupError("scope", err)
	}
	return &sc, nil
}

// storable reports whether every database can hold and compare key: valid
// UTF-8 without NUL bytes. PostgreSQL refuses to compare anything else with a
// TEXT column, and such a key, which only a request can bring, names no row
// anywhere.
func storable(key string) bool {
	return utf8.ValidString(key) && strings.IndexByte(key, 0) < 0
}

func notFound(what string) error {
	return fmt.Errorf("%s: %w", what, repos.ErrNotFound)
}

// lookupError maps a missing row to repos.ErrNotFound and wraps anything else
// without the key, which may be a username.
func (s *Store) lookupError(what string, err error) error {
	if errors.Is(err, dbsql.ErrNoRows) {
		return notFound(what)
	}
	return s.dialect.unavailable(fmt.Errorf("looking up %s: %w", what, err))
}
