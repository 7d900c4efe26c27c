package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
)

// ScopeIDs returns the id of every scope, sorted, for the server's metadata.
func (s *Store) ScopeIDs(ctx context.Context) ([]string, error) {
	const q = `SELECT id FROM scopes ORDER BY id`
	return list(ctx, s, "scopes", q, func(rows *dbsql.Rows) (string, error) {
		var id string
		err := rows.Scan(&id)
		return id, err
	})
}

// HasPublicClients reports whether any client has no secret, for the
// server's metadata. It is not prepared: no token request runs it.
func (s *Store) HasPublicClients(ctx context.Context) (bool, error) {
	const q = `SELECT 1 FROM clients WHERE secret_hash = '' LIMIT 1`
	var one int
	err := s.read.QueryRowContext(ctx, q).Scan(&one)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking for public clients: %w", err)
	}
	return true, nil
}

// UserPasswordHash returns some user's password hash, "" without users.
func (s *Store) UserPasswordHash(ctx context.Context) (string, error) {
	const q = `SELECT password_hash FROM users LIMIT 1`
	var hash string
	err := s.read.QueryRowContext(ctx, q).Scan(&hash)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading a user's hash: %w", err)
	}
	return hash, nil
}
