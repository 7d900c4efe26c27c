package sql

import (
	"context"
	dbsql "database/sql"
	"fmt"
	"strings"
	"time"
)

// purgeBatch is how many tokens one purge step reads, and so the most rows
// one of its transactions deletes: small enough that the token writes
// queued behind it (SQLite has one writer) wait milliseconds, not seconds.
const purgeBatch = 500

// purgeGrace is how long after its expiry a token is kept. A rotation checks
// expiry against the time its request began, which may be a moment before the
// purge reads the token, or on another instance whose clock lags: the grace
// keeps the purge from deleting a refresh token, and its family, as such a
// rotation consumes it, and keeps a revoked access token's row while such an
// instance may still take the token for unexpired.
const purgeGrace = 10 * time.Minute

// purgePause separates purge steps, so that a sweep of a large table leaves
// the database to the requests most of the time.
const purgePause = 5 * time.Millisecond

// queryPurgeScan reads the next batch of refresh tokens in primary-key
// order, with the revocation of their families. Purging sweeps the table this
// way because the tables have no index on expiry or family, which every
// rotation would have to write.
const queryPurgeScan = `SELECT t.id, t.family_id, t.expires_at, t.used_at IS NULL, f.revoked_at
	FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id
	WHERE t.id > ? ORDER BY t.id LIMIT ?`

// queryPurgeAccessScan reads the next batch of access tokens recorded on
// their own, in primary-key order, for the same reason.
const queryPurgeAccessScan = `SELECT id, expires_at FROM access_tokens WHERE id > ? ORDER BY id LIMIT ?`

// Purge deletes the token state no request can need any more, in small
// batches, and returns how many refresh tokens it deleted:
//
//   - refresh tokens that expired before now, less purgeGrace: none can be
//     rotated. A replay of one is refused as unknown, and so no longer revokes
//     its family as a replay of a stored used token does: the detection of a
//     replay lasts as long as the token's lifetime (refresh_token_ttl), plus
//     the time until the next purge;
//   - refresh tokens of families revoked before revokedBefore. Pass now minus
//     the access token lifetime, so that access tokens recorded in a revoked
//     family are reported revoked until they expire;
//   - the family of each unused refresh token deleted. A family has one unused
//     token, the newest; once it is gone the family cannot grow again, and any
//     older (used) token left is refused as used or unknown either way. Should
//     a racing rotation have left the family a live token after all, a replay
//     writes the family's row anew, revoked (queryRevokeFamily);
//   - access tokens recorded on their own (a reuse-interval retry's, denied
//     ones) that expired before now, less purgeGrace. A family's row, which
//     holds their revocation, outlives them: a retry's access token expires
//     before the successor it came with (unless refresh_token_ttl is shorter
//     than access_token_ttl), and a revoked family is kept for an access
//     token lifetime.
//
// Instances sharing a database may purge at once; deleting is idempotent. A
// purge already running on this Store makes Purge return at once. deleted
// counts refresh tokens only.
func (s *Store) Purge(ctx context.Context, now, revokedBefore time.Time) (deleted int, err error) {
	if !s.purging.TryLock() {
		return 0, nil
	}
	defer s.purging.Unlock()
	expiredBefore, cutoff := now.Add(-purgeGrace).Unix(), revokedBefore.Unix()
	err = s.sweep(ctx, func(after string) (string, int, error) {
		tokens, families, last, n, err := s.purgeCandidates(ctx, after, expiredBefore, cutoff)
		if err != nil || len(tokens) == 0 {
			return last, n, err
		}
		err = s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
			if err := s.deleteIn(ctx, tx, "refresh_tokens", tokens); err != nil {
				return err
			}
			return s.deleteIn(ctx, tx, "token_families", families)
		})
		if err != nil {
			return "", 0, fmt.Errorf("purging tokens: %w", err)
		}
		deleted += len(tokens)
		return last, n, nil
	})
	if err != nil {
		return deleted, err
	}
	return deleted, s.sweep(ctx, func(after string) (string, int, error) {
		return s.purgeAccessTokens(ctx, after, expiredBefore)
	})
}

// sweep runs step on successive batches of a table in primary-key order,
// each starting after the last id of the one before, until a batch comes back
// short; it pauses between batches, so that a sweep of a large table leaves
// the database to the requests most of the time.
func (s *Store) sweep(ctx context.Context, step func(after string) (last string, n int, err error)) error {
	after := ""
	for {
		last, n, err := step(after)
		if err != nil || n < purgeBatch {
			return err
		}
		after = last
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(purgePause):
		}
	}
}

// purgeAccessTokens deletes the expired ones of the batch of access tokens
// after the id after, and returns the last id read and how many were read.
func (s *Store) purgeAccessTokens(ctx context.Context, after string, expiredBefore int64) (last string, n int, err error) {
	expired, last, n, err := s.expiredAccessTokens(ctx, after, expiredBefore)
	if err != nil || len(expired) == 0 {
		return last, n, err
	}
	err = s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		return s.deleteIn(ctx, tx, "access_tokens", expired)
	})
	if err != nil {
		return "", 0, fmt.Errorf("purging access tokens: %w", err)
	}
	return last, n, nil
}

// expiredAccessTokens reads the batch of access tokens after the id after and
// returns those that expired before expiredBefore, the last id read and how
// many were read.
func (s *Store) expiredAccessTokens(ctx context.Context, after string, expiredBefore int64) (expired []any, last string, n int, err error) {
	rows, err := s.read.QueryContext(ctx, rebind(s.dialect.bind, queryPurgeAccessScan), after, purgeBatch)
	if err != nil {
		return nil, "", 0, fmt.Errorf("reading access tokens to purge: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var expiresAt int64
		if err := rows.Scan(&id, &expiresAt); err != nil {
			return nil, "", 0, fmt.Errorf("reading access tokens to purge: %w", err)
		}
		n++
		last = id
		if expiresAt <= expiredBefore {
			expired = append(expired, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", 0, fmt.Errorf("reading access tokens to purge: %w", err)
	}
	return expired, last, n, nil
}

// purgeCandidates reads the batch of refresh tokens after the id after and
// returns those to delete, the families to delete with them, the last id read
// and how many were read.
func (s *Store) purgeCandidates(ctx context.Context, after string, expiredBefore, revokedBefore int64) (tokens, families []any, last string, n int, err error) {
	rows, err := s.read.QueryContext(ctx, rebind(s.dialect.bind, queryPurgeScan), after, purgeBatch)
	if err != nil {
		return nil, nil, "", 0, fmt.Errorf("reading tokens to purge: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, familyID string
		var expiresAt int64
		var unused bool
		var revokedAt dbsql.NullInt64
		if err := rows.Scan(&id, &familyID, &expiresAt, &unused, &revokedAt); err != nil {
			return nil, nil, "", 0, fmt.Errorf("reading tokens to purge: %w", err)
		}
		n++
		last = id
		if expiresAt > expiredBefore && (!revokedAt.Valid || revokedAt.Int64 >= revokedBefore) {
			continue
		}
		tokens = append(tokens, id)
		if unused {
			families = append(families, familyID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", 0, fmt.Errorf("reading tokens to purge: %w", err)
	}
	return tokens, families, last, n, nil
}

// deleteIn deletes the rows of table whose id is among ids.
func (s *Store) deleteIn(ctx context.Context, tx *dbsql.Tx, table string, ids []any) error {
	if len(ids) == 0 {
		return nil
	}
	q := "DELETE FROM " + table + " WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
	if _, err := tx.ExecContext(ctx, rebind(s.dialect.bind, q), ids...); err != nil {
		return fmt.Errorf("deleting from %s: %w", table, err)
	}
	return nil
}
