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

// Issue records the tokens of a fresh grant in one transaction;
// repos.ErrDuplicate if an id is taken, and then neither is recorded.
func (s *Store) Issue(ctx context.Context, access repos.AccessToken, refresh *repos.RefreshToken) error {
	accessRow, refreshRow := accessArgs(access), refreshArgs(refresh)
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.insertTokens(ctx, tx, accessRow, refreshRow)
	})
}

// Rotate consumes the refresh token oldID and records its successors in one
// transaction. When oldID cannot be consumed nothing new is recorded; if the
// reason is that it was already used, the revocation of its family is committed
// before ErrTokenUsed is returned.
func (s *Store) Rotate(ctx context.Context, oldID string, now time.Time, access repos.AccessToken, next *repos.RefreshToken) error {
	accessRow, nextRow := accessArgs(access), refreshArgs(next)
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.rotate(ctx, tx, oldID, now.Unix(), accessRow, nextRow)
	})
}

// rotate is the body of Rotate's transaction.
func (s *Store) rotate(ctx context.Context, tx *dbsql.Tx, oldID string, now int64, accessRow, nextRow []any) error {
	res, err := tx.StmtContext(ctx, s.stmts.consumeRefresh).ExecContext(ctx, now, oldID, now)
	if err != nil {
		return fmt.Errorf("consuming refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("consuming refresh token: %w", err)
	}
	if n == 1 {
		return s.insertTokens(ctx, tx, accessRow, nextRow)
	}
	return s.refuseRotation(ctx, tx, oldID, now)
}

// refuseRotation explains why oldID could not be consumed. The checks run in
// the transaction that failed to consume it, so they see the state that made
// it fail. A used token presented again is a replay (RFC 9700 §4.14): its
// family is revoked, whether or not it has expired since, because the
// successors it produced may still be live in the wrong hands.
func (s *Store) refuseRotation(ctx context.Context, tx *dbsql.Tx, oldID string, now int64) error {
	var familyID string
	var expiresAt int64
	var used, revoked bool
	err := tx.StmtContext(ctx, s.stmts.refreshStatus).QueryRowContext(ctx, oldID).Scan(&familyID, &expiresAt, &used, &revoked)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return fmt.Errorf("refresh token: %w", repos.ErrNotFound)
	case err != nil:
		return fmt.Errorf("reading refresh token: %w", err)
	case revoked:
		return repos.ErrTokenRevoked
	case used:
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

// RevokeFamily revokes every refresh and access token of the family. Revoking
// an unknown or already revoked family is not an error: the outcome the caller
// wants holds.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	now := time.Now().Unix()
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.revokeFamily(ctx, tx, familyID, now)
	})
}

// revokeFamily marks the family's tokens revoked at now, keeping the time of
// an earlier revocation.
func (s *Store) revokeFamily(ctx context.Context, tx *dbsql.Tx, familyID string, now int64) error {
	if _, err := tx.StmtContext(ctx, s.stmts.revokeRefresh).ExecContext(ctx, now, familyID); err != nil {
		return fmt.Errorf("revoking refresh tokens: %w", err)
	}
	if _, err := tx.StmtContext(ctx, s.stmts.revokeAccess).ExecContext(ctx, now, familyID); err != nil {
		return fmt.Errorf("revoking access tokens: %w", err)
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
// revoked; repos.ErrNotFound for an unknown id.
func (s *Store) AccessTokenRevoked(ctx context.Context, id string) (bool, error) {
	var revoked bool
	if err := s.stmts.accessRevoked.QueryRowContext(ctx, id).Scan(&revoked); err != nil {
		return false, lookupError("access token", err)
	}
	return revoked, nil
}

// insertTokens inserts an access token row and, unless refreshRow is nil, a
// refresh token row.
func (s *Store) insertTokens(ctx context.Context, tx *dbsql.Tx, accessRow, refreshRow []any) error {
	if _, err := tx.StmtContext(ctx, s.stmts.insertAccess).ExecContext(ctx, accessRow...); err != nil {
		return s.insertError("access token", err)
	}
	if refreshRow == nil {
		return nil
	}
	if _, err := tx.StmtContext(ctx, s.stmts.insertRefresh).ExecContext(ctx, refreshRow...); err != nil {
		return s.insertError("refresh token", err)
	}
	return nil
}

// insertError maps a key collision to repos.ErrDuplicate.
func (s *Store) insertError(what string, err error) error {
	if s.dialect.isDuplicate(err) {
		return fmt.Errorf("recording %s: %w", what, repos.ErrDuplicate)
	}
	return fmt.Errorf("recording %s: %w", what, err)
}

// accessArgs are the insert arguments of an access token row, computed before
// the transaction so it stays short.
func accessArgs(t repos.AccessToken) []any {
	return []any{t.ID, t.FamilyID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), t.ExpiresAt.Unix()}
}

// refreshArgs are the insert arguments of a refresh token row; nil for no token.
func refreshArgs(t *repos.RefreshToken) []any {
	if t == nil {
		return nil
	}
	return []any{t.ID, t.FamilyID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), t.ExpiresAt.Unix()}
}
