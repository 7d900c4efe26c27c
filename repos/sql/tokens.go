package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Issue records the refresh token of a fresh grant, its family, and in its row
// the access token issued with it; repos.ErrDuplicate if the token's id, its
// access token's id or its family id is taken, and then nothing is recorded.
func (s *Store) Issue(ctx context.Context, refresh repos.RefreshToken) error {
	row, err := refreshArgs(refresh)
	if err != nil {
		return err
	}
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		if err := s.insert(ctx, tx, s.stmts.insertFamily, "token family", refresh.FamilyID); err != nil {
			return err
		}
		return s.insert(ctx, tx, s.stmts.insertRefresh, "refresh token", row...)
	})
}

// Rotate consumes the refresh token oldID and records its successor, which
// carries the new access token, in one transaction. When oldID cannot be
// consumed nothing new is recorded; if the reason is that it was already used,
// the revocation of its family is committed before ErrTokenUsed is returned.
func (s *Store) Rotate(ctx context.Context, oldID string, now time.Time, next repos.RefreshToken) error {
	row, err := refreshArgs(next)
	if err != nil {
		return err
	}
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.rotate(ctx, tx, oldID, now.Unix(), next.FamilyID, row)
	})
}

// rotate is the body of Rotate's transaction. The successor must be of the
// consumed token's family: a token outside it would escape the family's
// revocation, so the UPDATE only matches a token of that family.
func (s *Store) rotate(ctx context.Context, tx *dbsql.Tx, oldID string, now int64, familyID string, nextRow []any) error {
	res, err := tx.StmtContext(ctx, s.stmts.consumeRefresh).ExecContext(ctx, now, oldID, familyID, now)
	if err != nil {
		return fmt.Errorf("consuming refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("consuming refresh token: %w", err)
	}
	if n == 1 {
		return s.insert(ctx, tx, s.stmts.insertRefresh, "refresh token", nextRow...)
	}
	return s.refuseRotation(ctx, tx, oldID, familyID, nextRow[0].(string), now)
}

// refuseRotation explains why oldID could not be consumed. The checks run in
// the transaction that failed to consume it, so they see the state that made
// it fail. A used token presented again is a replay (RFC 9700 §4.14): its
// family is revoked, whether or not it has expired since, because the
// successors it produced may still be live in the wrong hands; that holds
// until Purge deletes the expired token, after which it is unknown.
func (s *Store) refuseRotation(ctx context.Context, tx *dbsql.Tx, oldID, nextFamilyID, nextID string, now int64) error {
	var familyID string
	var expiresAt int64
	var used, revoked bool
	err := tx.StmtContext(ctx, s.stmts.refreshStatus).QueryRowContext(ctx, oldID).Scan(&familyID, &expiresAt, &used, &revoked)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return fmt.Errorf("refresh token: %w", repos.ErrNotFound)
	case err != nil:
		return fmt.Errorf("reading refresh token: %w", err)
	case familyID != nextFamilyID:
		// A caller's bug, not the client's doing: change nothing.
		return errFamilyMismatch
	case revoked:
		return repos.ErrTokenRevoked
	case used:
		// This very rotation may have committed already: its COMMIT's answer
		// was lost and the batch is being run again. Successor ids are made
		// by the server, so no replay can name one that is recorded.
		var recorded int
		err := tx.QueryRowContext(ctx, rebind(s.dialect.bind, querySuccessorRecorded), nextID, familyID).Scan(&recorded)
		if err == nil {
			return nil
		}
		if !errors.Is(err, dbsql.ErrNoRows) {
			return fmt.Errorf("reading refresh token: %w", err)
		}
		if err := s.revokeFamily(ctx, tx, familyID, now); err != nil {
			return err
		}
		return repos.ErrTokenUsed
	case expiresAt <= now:
		return repos.ErrTokenExpired
	}
	// The row is usable, so the UPDATE should have matched it.
	return errors.New("refresh token was not consumed although usable")
}

// RevokeFamily revokes every refresh token of the family, and so the access
// tokens recorded in their rows. Revoking an unknown or already revoked family
// is not an error: the outcome the caller wants holds.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	now := time.Now().Unix()
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.revokeFamily(ctx, tx, familyID, now)
	})
}

// revokeFamily marks the family revoked at now, keeping the time of an earlier
// revocation. It is one row however long the family: every member reads its
// revocation from there.
func (s *Store) revokeFamily(ctx context.Context, tx *dbsql.Tx, familyID string, now int64) error {
	if _, err := tx.StmtContext(ctx, s.stmts.revokeFamily).ExecContext(ctx, familyID, now); err != nil {
		return fmt.Errorf("revoking token family: %w", err)
	}
	return nil
}

// RefreshTokenState reports whether the refresh token is used and whether it
// is revoked; repos.ErrNotFound for an unknown id.
func (s *Store) RefreshTokenState(ctx context.Context, id string) (used, revoked bool, err error) {
	err = s.stmts.refreshState.QueryRowContext(ctx, id).Scan(&used, &revoked)
	if err != nil {
		return false, false, lookupError("refresh token", err)
	}
	return used, revoked, nil
}

// AccessTokenRevoked reports whether the access token with this jti is
// revoked, from the row of the refresh token it was issued with;
// repos.ErrNotFound if no refresh token records it.
func (s *Store) AccessTokenRevoked(ctx context.Context, id string) (bool, error) {
	var revoked bool
	if err := s.stmts.accessRevoked.QueryRowContext(ctx, id).Scan(&revoked); err != nil {
		return false, lookupError("access token", err)
	}
	return revoked, nil
}

// insert runs an INSERT of a what in tx, reporting a taken key as
// repos.ErrDuplicate.
func (s *Store) insert(ctx context.Context, tx *dbsql.Tx, stmt *dbsql.Stmt, what string, args ...any) error {
	if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
		if s.dialect.isDuplicate(err) {
			return fmt.Errorf("recording %s: %w", what, repos.ErrDuplicate)
		}
		return fmt.Errorf("recording %s: %w", what, err)
	}
	return nil
}

// errFamilyMismatch refuses a successor that names another family than the
// token it replaces.
var errFamilyMismatch = errors.New("successor refresh token names another family than the token it replaces")

// errNoAccessTokenID refuses a refresh token that records no access token:
// the UNIQUE index would take the empty id as a collision with the next one,
// and no lookup could find the access token to report its revocation.
var errNoAccessTokenID = errors.New("refresh token records no access token id")

// refreshArgs are the insert arguments of a refresh token row, computed before
// the transaction so it stays short.
func refreshArgs(t repos.RefreshToken) ([]any, error) {
	if t.AccessTokenID == "" {
		return nil, errNoAccessTokenID
	}
	return []any{t.ID, t.FamilyID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), t.ExpiresAt.Unix(), t.AccessTokenID}, nil
}
