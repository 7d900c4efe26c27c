package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
)

// statements are the queries a token request runs, prepared once at Open so a
// request does not parse SQL. Each query reaches its rows through the primary
// key or an index (TestQueriesUseIndexes checks the plans).
type statements struct {
	// Lookups, on the read pool.
	client, userByUsername, userByID, scope *dbsql.Stmt
	refreshState, accessToken               *dbsql.Stmt

	// Token writes, run inside transactions on the write pool.
	consumeRefresh, refreshStatus *dbsql.Stmt
	insertRefresh, insertFamily   *dbsql.Stmt
	revokeFamily                  *dbsql.Stmt
	// The reuse interval's retry, and the denial of an access token.
	successor, accessFamily  *dbsql.Stmt
	insertAccess, denyAccess *dbsql.Stmt

	all []*dbsql.Stmt
}

// The query texts, in the SQL every dialect shares, with ? placeholders.
const (
	queryClient         = `SELECT name, secret_hash, grants, scopes, default_scope, introspect FROM clients WHERE id = ?`
	queryUserByUsername = `SELECT id, username, password_hash, scopes FROM users WHERE username = ?`
	queryUserByID       = `SELECT id, username, password_hash, scopes FROM users WHERE id = ?`
	queryScope          = `SELECT description FROM scopes WHERE id = ?`
	// A token is revoked when its family is: the family's row holds the
	// revocation, found by primary key (a missing row is a family never
	// revoked).
	queryRefreshState = `SELECT t.used_at IS NOT NULL, f.revoked_at IS NOT NULL
		FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id WHERE t.id = ?`
	// queryAccessToken answers for an access token in one round trip from
	// wherever it is recorded: the refresh token row it was issued with,
	// found through the access_token_id index, or its own row in
	// access_tokens, found by primary key. Each half finds at most one row.
	// A row of access_tokens is revoked by its own revoked_at (a denial) or
	// by its family's.
	queryAccessToken = `SELECT t.family_id, f.revoked_at IS NOT NULL
		FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id WHERE t.access_token_id = ?
		UNION ALL
		SELECT COALESCE(a.family_id, ''), a.revoked_at IS NOT NULL OR f.revoked_at IS NOT NULL
		FROM access_tokens a LEFT JOIN token_families f ON f.id = a.family_id WHERE a.id = ?`

	// queryConsumeRefresh marks a refresh token used, by the successor it
	// names, if, and only if, it is usable now. The row lock it takes makes it
	// the one point where concurrent rotations of one token are decided.
	queryConsumeRefresh = `UPDATE refresh_tokens SET used_at = ?, replaced_by = ?
		WHERE id = ? AND family_id = ? AND used_at IS NULL AND expires_at > ? AND NOT EXISTS (
			SELECT 1 FROM token_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NOT NULL)`
	queryRefreshStatus = `SELECT t.family_id, t.expires_at, t.used_at, t.replaced_by, f.revoked_at IS NOT NULL
		FROM refresh_tokens t LEFT JOIN token_families f ON f.id = t.family_id WHERE t.id = ?`
	queryInsertRefresh = `INSERT INTO refresh_tokens (id, family_id, client_id, user_id, scopes, expires_at, access_token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	queryInsertFamily = `INSERT INTO token_families (id) VALUES (?)`
	// querySuccessor reads the successor that a used token names, on the
	// rare path of a retry within the reuse interval. The dialect's forUpdate
	// completes it, so that no rotation of the successor can commit between
	// this read and the retry's commit.
	querySuccessor = `SELECT family_id, client_id, user_id, scopes, expires_at, used_at IS NOT NULL
		FROM refresh_tokens WHERE id = ?`
	// queryAccessFamily finds an access token recorded on its own, for a
	// retry run again after a lost COMMIT to recognise its own.
	queryAccessFamily = `SELECT family_id FROM access_tokens WHERE id = ?`
	queryInsertAccess = `INSERT INTO access_tokens (id, family_id, expires_at) VALUES (?, ?, ?)`
	// queryDenyAccess refuses an access token, keeping the time of an earlier
	// denial and the family and expiry of a row there already.
	queryDenyAccess = `INSERT INTO access_tokens (id, expires_at, revoked_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at WHERE access_tokens.revoked_at IS NULL`
	// queryDenyAccessMySQL is queryDenyAccess in MySQL's words (see
	// queryRevokeFamilyMySQL).
	queryDenyAccessMySQL = `INSERT INTO access_tokens (id, expires_at, revoked_at) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE revoked_at = COALESCE(revoked_at, VALUES(revoked_at))`
	// queryRevokeFamily revokes every refresh token of a family, and the
	// access tokens recorded with them, keeping an earlier revocation's time.
	// It writes the family's row if there is none: a purge that raced a
	// rotation may have deleted the row of a family that still has a live
	// token, and a replay must revoke that token all the same.
	queryRevokeFamily = `INSERT INTO token_families (id, revoked_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at WHERE token_families.revoked_at IS NULL`
	// queryRevokeFamilyMySQL is queryRevokeFamily in MySQL's words.
	// token_families has no unique key but its primary key, so ON DUPLICATE
	// KEY UPDATE can only meet the family's own row.
	queryRevokeFamilyMySQL = `INSERT INTO token_families (id, revoked_at) VALUES (?, ?)
		ON DUPLICATE KEY UPDATE revoked_at = COALESCE(revoked_at, VALUES(revoked_at))`
)

// prepare prepares every statement on the pool that runs it.
func (s *Store) prepare(ctx context.Context) error {
	var err error
	p := func(db *dbsql.DB, query string) *dbsql.Stmt {
		if err != nil {
			return nil
		}
		stmt, perr := db.PrepareContext(ctx, rebind(s.dialect.bind, query))
		if perr != nil {
			err = fmt.Errorf("preparing statement: %w", perr)
			return nil
		}
		s.stmts.all = append(s.stmts.all, stmt)
		return stmt
	}
	st := &s.stmts
	st.client = p(s.read, queryClient)
	st.userByUsername = p(s.read, queryUserByUsername)
	st.userByID = p(s.read, queryUserByID)
	st.scope = p(s.read, queryScope)
	st.refreshState = p(s.read, queryRefreshState)
	st.accessToken = p(s.read, queryAccessToken)
	st.consumeRefresh = p(s.write, queryConsumeRefresh)
	st.refreshStatus = p(s.write, queryRefreshStatus)
	st.insertRefresh = p(s.write, queryInsertRefresh)
	st.insertFamily = p(s.write, queryInsertFamily)
	st.successor = p(s.write, querySuccessor+s.dialect.forUpdate)
	st.accessFamily = p(s.write, queryAccessFamily)
	st.insertAccess = p(s.write, queryInsertAccess)
	if s.dialect == mysqlDialect {
		st.revokeFamily = p(s.write, queryRevokeFamilyMySQL)
		st.denyAccess = p(s.write, queryDenyAccessMySQL)
	} else {
		st.revokeFamily = p(s.write, queryRevokeFamily)
		st.denyAccess = p(s.write, queryDenyAccess)
	}
	return err
}

// close closes every prepared statement.
func (st *statements) close() error {
	var errs []error
	for _, stmt := range st.all {
		errs = append(errs, stmt.Close())
	}
	st.all = nil
	return errors.Join(errs...)
}
