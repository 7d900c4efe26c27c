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
	refreshState, accessRevoked             *dbsql.Stmt

	// Token writes, run inside transactions on the write pool.
	consumeRefresh, refreshStatus *dbsql.Stmt
	insertRefresh, revokeRefresh  *dbsql.Stmt
	refreshLinks                  *dbsql.Stmt

	all []*dbsql.Stmt
}

// The query texts, in the SQL every dialect shares, with ? placeholders.
const (
	queryClient         = `SELECT name, secret_hash, grants, scopes, default_scope FROM clients WHERE id = ?`
	queryUserByUsername = `SELECT id, username, password_hash, scopes FROM users WHERE username = ?`
	queryUserByID       = `SELECT id, username, password_hash, scopes FROM users WHERE id = ?`
	queryScope          = `SELECT description FROM scopes WHERE id = ?`
	queryRefreshState   = `SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM refresh_tokens WHERE id = ?`
	// queryAccessRevoked answers for an access token from the refresh token
	// row it was recorded in, found through the access_token_id index.
	queryAccessRevoked = `SELECT revoked_at IS NOT NULL FROM refresh_tokens WHERE access_token_id = ?`

	// queryConsumeRefresh marks a refresh token used, linking it to its
	// successor, if and only if it is usable now. The row lock it takes makes
	// it the one point where concurrent rotations of one token are decided.
	queryConsumeRefresh = `UPDATE refresh_tokens SET used_at = ?, successor_id = ?
		WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`
	queryRefreshStatus = `SELECT expires_at, used_at IS NOT NULL, revoked_at IS NOT NULL
		FROM refresh_tokens WHERE id = ?`
	queryInsertRefresh = `INSERT INTO refresh_tokens (id, family_id, client_id, user_id, scopes, expires_at, access_token_id, parent_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// queryRevokeRefresh revokes one refresh token and, since its row records
	// it, the access token issued with it; an earlier revocation's time stays.
	queryRevokeRefresh = `UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`
	// queryRefreshLinks reads a refresh token's neighbours in its family's chain.
	queryRefreshLinks = `SELECT parent_id, successor_id FROM refresh_tokens WHERE id = ?`
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
	st.accessRevoked = p(s.read, queryAccessRevoked)
	st.consumeRefresh = p(s.write, queryConsumeRefresh)
	st.refreshStatus = p(s.write, queryRefreshStatus)
	st.insertRefresh = p(s.write, queryInsertRefresh)
	st.revokeRefresh = p(s.write, queryRevokeRefresh)
	st.refreshLinks = p(s.write, queryRefreshLinks)
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
