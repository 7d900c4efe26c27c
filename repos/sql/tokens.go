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

// Rotate consumes the refresh token r.OldID and records its successor, which
// carries the new access token, in one transaction, and returns the successor
// recorded. When OldID cannot be consumed nothing new is recorded, unless the
// call is a retry within the reuse interval (rotateUsed); if the reason is
// that it was already used, the revocation of its family is committed before
// ErrTokenUsed is returned.
func (s *Store) Rotate(ctx context.Context, r repos.Rotation) (repos.RefreshToken, error) {
	row, err := refreshArgs(r.Next)
	if err != nil {
		return repos.RefreshToken{}, err
	}
	if r.ReuseInterval > 0 && r.AccessExpiresAt.IsZero() {
		return repos.RefreshToken{}, errNoAccessExpiry
	}
	// The batcher may run the write twice (batch.go); the run whose outcome
	// it returns is the last, so its successor is the one reported.
	var recorded repos.RefreshToken
	err = s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		var err error
		recorded, err = s.rotate(ctx, tx, r, row)
		return err
	})
	if err != nil {
		return repos.RefreshToken{}, err
	}
	return recorded, nil
}

// rotate is the body of Rotate's transaction. The successor must be of the
// consumed token's family: a token outside it would escape the family's
// revocation, so the UPDATE only matches a token of that family. The UPDATE
// names the successor in the consumed token's row (replaced_by), for a retry
// to find it.
func (s *Store) rotate(ctx context.Context, tx *dbsql.Tx, r repos.Rotation, nextRow []any) (repos.RefreshToken, error) {
	now := r.Now.Unix()
	res, err := tx.StmtContext(ctx, s.stmts.consumeRefresh).ExecContext(ctx, now, r.Next.ID, r.OldID, r.Next.FamilyID, now)
	if err != nil {
		return repos.RefreshToken{}, fmt.Errorf("consuming refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return repos.RefreshToken{}, fmt.Errorf("consuming refresh token: %w", err)
	}
	if n != 1 {
		return s.refuseRotation(ctx, tx, r)
	}
	if err := s.insert(ctx, tx, s.stmts.insertRefresh, "refresh token", nextRow...); err != nil {
		return repos.RefreshToken{}, err
	}
	return r.Next, nil
}

// refuseRotation explains why r.OldID could not be consumed, or, for a used
// token, hands it to rotateUsed. The checks run in the transaction that failed
// to consume it, so they see the state that made it fail.
func (s *Store) refuseRotation(ctx context.Context, tx *dbsql.Tx, r repos.Rotation) (repos.RefreshToken, error) {
	var familyID string
	var expiresAt int64
	var usedAt dbsql.NullInt64
	var replacedBy dbsql.NullString
	var revoked bool
	err := tx.StmtContext(ctx, s.stmts.refreshStatus).QueryRowContext(ctx, r.OldID).Scan(&familyID, &expiresAt, &usedAt, &replacedBy, &revoked)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return repos.RefreshToken{}, fmt.Errorf("refresh token: %w", repos.ErrNotFound)
	case err != nil:
		return repos.RefreshToken{}, fmt.Errorf("reading refresh token: %w", err)
	case familyID != r.Next.FamilyID:
		// A caller's bug, not the client's doing: change nothing.
		return repos.RefreshToken{}, errFamilyMismatch
	case revoked:
		return repos.RefreshToken{}, repos.ErrTokenRevoked
	case usedAt.Valid:
		return s.rotateUsed(ctx, tx, r, usedAt.Int64, replacedBy)
	case expiresAt <= r.Now.Unix():
		return repos.RefreshToken{}, repos.ErrTokenExpired
	}
	// The row is usable, so the UPDATE should have matched it.
	return repos.RefreshToken{}, errors.New("refresh token was not consumed although usable")
}

// rotateUsed answers a used token presented again, of an unrevoked family. It
// is one of three things:
//
//   - this very rotation, committed already: its COMMIT's answer was lost and
//     the batch is being run again. Successor ids are made by the server, so
//     no other call can name the one recorded (replacedBy);
//   - a retry within the reuse interval, which gets the recorded successor
//     again if that is still unused (reuse);
//   - otherwise a replay (RFC 9700 §4.14): its family is revoked, whether or
//     not the token has expired since, because the successors it produced may
//     still be live in the wrong hands; that holds until Purge deletes the
//     expired token, after which it is unknown. A token consumed before
//     replaced_by existed names no successor, and is a replay.
func (s *Store) rotateUsed(ctx context.Context, tx *dbsql.Tx, r repos.Rotation, usedAt int64, replacedBy dbsql.NullString) (repos.RefreshToken, error) {
	if replacedBy.Valid && replacedBy.String == r.Next.ID {
		return r.Next, nil
	}
	if replacedBy.Valid && withinReuse(r, usedAt) {
		successor, ok, err := s.reuse(ctx, tx, r, replacedBy.String)
		if err != nil || ok {
			return successor, err
		}
	}
	if err := s.revokeFamily(ctx, tx, r.Next.FamilyID, r.Now.Unix()); err != nil {
		return repos.RefreshToken{}, err
	}
	return repos.RefreshToken{}, repos.ErrTokenUsed
}

// withinReuse reports whether r comes within its reuse interval after the
// presented token was consumed at usedAt: Now is before usedAt plus
// ReuseInterval, in whole unix seconds as times are stored. With no interval
// it never does, even when Now is before usedAt (another instance's clock
// behind the one that consumed the token).
func withinReuse(r repos.Rotation, usedAt int64) bool {
	return r.ReuseInterval > 0 && time.Unix(r.Now.Unix(), 0).Before(time.Unix(usedAt, 0).Add(r.ReuseInterval))
}

// reuse hands out again the successor that the presented token was consumed
// for, if it is unused and unexpired at r.Now (its family is the presented
// token's, which refuseRotation found unrevoked), and records the retry's
// access token in the family. It reports false, having changed nothing, when
// the successor cannot be handed out: the retry is a replay then.
//
// The successor's row is read with the dialect's forUpdate, so it stays as
// read until this transaction ends: a rotation of the successor, which
// consumes it by updating that row, either committed before the read, and the
// successor is seen used, or waits for this transaction to end. Either way
// the successor is never handed out once used, also by another instance.
// SQLite takes no row lock and needs none: its write transactions, which hold
// the database's one write lock from BEGIN IMMEDIATE to their end, run one at
// a time. A batch (batch.go) runs its writes one after another in one such
// transaction, so a retry there sees what the writes before it did.
func (s *Store) reuse(ctx context.Context, tx *dbsql.Tx, r repos.Rotation, successorID string) (repos.RefreshToken, bool, error) {
	successor := repos.RefreshToken{ID: successorID, AccessTokenID: r.Next.AccessTokenID}
	var scopes string
	var expiresAt int64
	var used bool
	err := tx.StmtContext(ctx, s.stmts.successor).QueryRowContext(ctx, successorID).
		Scan(&successor.FamilyID, &successor.ClientID, &successor.UserID, &scopes, &expiresAt, &used)
	switch {
	case errors.Is(err, dbsql.ErrNoRows):
		return repos.RefreshToken{}, false, nil // purged with its family
	case err != nil:
		return repos.RefreshToken{}, false, fmt.Errorf("reading successor refresh token: %w", err)
	case used || expiresAt <= r.Now.Unix():
		return repos.RefreshToken{}, false, nil
	}
	if err := s.recordAccess(ctx, tx, r); err != nil {
		return repos.RefreshToken{}, false, err
	}
	successor.Scopes = strings.Fields(scopes)
	successor.ExpiresAt = time.Unix(expiresAt, 0)
	return successor, true, nil
}

// recordAccess records the access token of a retry as one of its family's,
// until it expires, so that the family's revocation reaches it. Run again
// after a lost COMMIT, it finds its row there and records nothing; a row of
// another family means the id is taken.
func (s *Store) recordAccess(ctx context.Context, tx *dbsql.Tx, r repos.Rotation) error {
	var familyID dbsql.NullString
	err := tx.StmtContext(ctx, s.stmts.accessFamily).QueryRowContext(ctx, r.Next.AccessTokenID).Scan(&familyID)
	switch {
	case err == nil && familyID.Valid && familyID.String == r.Next.FamilyID:
		return nil
	case err == nil:
		return fmt.Errorf("recording access token: %w", repos.ErrDuplicate)
	case !errors.Is(err, dbsql.ErrNoRows):
		return fmt.Errorf("reading access token: %w", err)
	}
	return s.insert(ctx, tx, s.stmts.insertAccess, "access token", r.Next.AccessTokenID, r.Next.FamilyID, r.AccessExpiresAt.Unix())
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
		return false, false, s.lookupError("refresh token", err)
	}
	return used, revoked, nil
}

// AccessToken reports the state of the access token with this jti, from the
// refresh token row it was recorded in or its own row in access_tokens, in
// one query; repos.ErrNotFound if neither records it. Should both (a caller
// denied a jti of a family), it is revoked if either says so.
func (s *Store) AccessToken(ctx context.Context, jti string) (repos.AccessTokenState, error) {
	if !storable(jti) {
		return repos.AccessTokenState{}, notFound("access token")
	}
	rows, err := s.stmts.accessToken.QueryContext(ctx, jti, jti)
	if err != nil {
		return repos.AccessTokenState{}, s.lookupError("access token", err)
	}
	defer rows.Close()
	var state repos.AccessTokenState
	found := false
	for rows.Next() {
		var familyID string
		var revoked bool
		if err := rows.Scan(&familyID, &revoked); err != nil {
			return repos.AccessTokenState{}, s.lookupError("access token", err)
		}
		found = true
		if state.FamilyID == "" {
			state.FamilyID = familyID
		}
		state.Revoked = state.Revoked || revoked
	}
	if err := rows.Err(); err != nil {
		return repos.AccessTokenState{}, s.lookupError("access token", err)
	}
	if !found {
		return repos.AccessTokenState{}, notFound("access token")
	}
	return state, nil
}

// DenyAccessToken records the access token jti as revoked until expiresAt,
// when the purge may forget it. Denying it again keeps the first denial.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return errors.New("denying access token: empty id")
	}
	now, expires := time.Now().Unix(), expiresAt.Unix()
	return s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		if _, err := tx.StmtContext(ctx, s.stmts.denyAccess).ExecContext(ctx, jti, expires, now); err != nil {
			return fmt.Errorf("denying access token: %w", err)
		}
		return nil
	})
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

// errNoAccessExpiry refuses a rotation with a reuse interval whose access
// token has no expiry: a retry records that access token until it expires,
// and one recorded as expired long ago would be purged at once.
var errNoAccessExpiry = errors.New("rotation with a reuse interval gives no access token expiry")

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
