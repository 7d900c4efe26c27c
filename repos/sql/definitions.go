package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Client returns the client with the given id, or repos.ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*repos.Client, error) {
	c := repos.Client{ID: id}
	var grants, scopes, defaultScope dbsql.NullString
	err := s.stmts.client.QueryRowContext(ctx, id).Scan(&c.Name, &c.SecretHash, &grants, &scopes, &defaultScope)
	if err != nil {
		return nil, lookupError("client", err)
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
	var u repos.User
	var scopes dbsql.NullString
	if err := stmt.QueryRowContext(ctx, key).Scan(&u.ID, &u.Username, &u.PasswordHash, &scopes); err != nil {
		return nil, lookupError("user", err)
	}
	u.Scopes = splitList(scopes)
	return &u, nil
}

// Scope returns the scope with the given id, or repos.ErrNotFound.
func (s *Store) Scope(ctx context.Context, id string) (*repos.Scope, error) {
	sc := repos.Scope{ID: id}
	if err := s.stmts.scope.QueryRowContext(ctx, id).Scan(&sc.Description); err != nil {
		return nil, lookupError("scope", err)
	}
	return &sc, nil
}

// lookupError maps a missing row to repos.ErrNotFound and wraps anything else
// without the key, which may be a username.
func lookupError(what string, err error) error {
	if errors.Is(err, dbsql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, repos.ErrNotFound)
	}
	return fmt.Errorf("looking up %s: %w", what, err)
}
