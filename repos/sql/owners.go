package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The unrevoked families with a refresh token of a client, or of a user. A
// family's tokens all share its client and user, so any one of them names
// them. These queries read the whole refresh_tokens table: it has no index on
// client_id or user_id, which every rotation would have to write to spare an
// operator's command a scan.
const (
	queryClientFamilies = `SELECT DISTINCT t.family_id
		FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id
		WHERE t.client_id = ? AND f.revoked_at IS NULL`
	queryUserFamilies = `SELECT DISTINCT t.family_id
		FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id
		WHERE t.user_id = ? AND f.revoked_at IS NULL`
)

// errOwner refuses a FamilyOwner that names neither a client nor a user, or
// both.
var errOwner = errors.New("revoking token families: name a client or a user, not both")

// RevokeFamilies revokes every family with a refresh token of by's client or
// user and returns how many it revoked; families revoked already do not
// count. It is for operators, not requests: it finds the families by reading
// the whole refresh_tokens table (queryClientFamilies), on the read pool and
// outside any transaction, so that the token writes go on meanwhile, and then
// revokes them in transactions of at most purgeBatch families, so that the
// writes queued behind each (SQLite has one writer) wait milliseconds. A
// family that starts after the read is a grant made after the command, and is
// not revoked.
func (s *Store) RevokeFamilies(ctx context.Context, by repos.FamilyOwner) (int, error) {
	query, key := queryClientFamilies, by.ClientID
	switch {
	case (by.ClientID == "") == (by.UserID == ""):
		return 0, errOwner
	case by.UserID != "":
		query, key = queryUserFamilies, by.UserID
	}
	families, err := s.ownedFamilies(ctx, query, key)
	if err != nil {
		return 0, err
	}
	now := time.Now().Unix()
	revoked := 0
	for batch := range slices.Chunk(families, purgeBatch) {
		n, err := s.revokeFamilies(ctx, batch, now)
		if err != nil {
			return revoked, err
		}
		revoked += n
	}
	return revoked, nil
}

// ownedFamilies runs query, one of the owner queries, for key.
func (s *Store) ownedFamilies(ctx context.Context, query, key string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, rebind(s.dialect.bind, query), key)
	if err != nil {
		return nil, fmt.Errorf("finding token families: %w", err)
	}
	defer rows.Close()
	var families []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("finding token families: %w", err)
		}
		families = append(families, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding token families: %w", err)
	}
	return families, nil
}

// revokeFamilies revokes the families in one transaction and returns how many
// of them it revoked: the revocation statement changes no row of a family
// revoked meanwhile.
func (s *Store) revokeFamilies(ctx context.Context, families []string, now int64) (int, error) {
	var revoked int
	err := s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
		revoked = 0 // the batcher may run this again
		stmt := tx.StmtContext(ctx, s.stmts.revokeFamily)
		for _, id := range families {
			res, err := stmt.ExecContext(ctx, id, now)
			if err != nil {
				return fmt.Errorf("revoking token family: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("revoking token family: %w", err)
			}
			if n > 0 {
				revoked++
			}
		}
		return nil
	})
	return revoked, err
}
