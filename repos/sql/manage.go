package sql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The management methods below are for tests and the command line, not for
// requests: they are not prepared, and they check only what the storage needs
// (ids present, list entries that survive the space-separated encoding). The
// meaning of the values (hash formats, grant names, declared scopes) is the
// caller's to check.

// PutClient creates the client or replaces the one with its id.
func (s *Store) PutClient(ctx context.Context, c repos.Client) error {
	if err := checkID("client", c.ID); err != nil {
		return err
	}
	if err := errors.Join(
		checkList("client", "grants", c.Grants),
		checkList("client", "scopes", c.Scopes),
		checkList("client", "default_scope", c.DefaultScope),
	); err != nil {
		return err
	}
	q := insertInto("clients", "id", "name", "secret_hash", "grants", "scopes", "default_scope", "introspect")
	return s.put(ctx, "client", "clients", q, c.ID, c.Name, c.SecretHash, joinList(c.Grants), joinList(c.Scopes), joinList(c.DefaultScope), c.Introspect)
}

// PutUser creates the user or replaces the one with its id;
// repos.ErrDuplicate if another user has its username.
func (s *Store) PutUser(ctx context.Context, u repos.User) error {
	if err := checkID("user", u.ID); err != nil {
		return err
	}
	if u.Username == "" {
		return errors.New("user: empty username")
	}
	if err := checkList("user", "scopes", u.Scopes); err != nil {
		return err
	}
	q := insertInto("users", "id", "username", "password_hash", "scopes")
	return s.put(ctx, "user", "users", q, u.ID, u.Username, u.PasswordHash, joinList(u.Scopes))
}

// PutScope creates the scope or replaces the one with its id.
func (s *Store) PutScope(ctx context.Context, sc repos.Scope) error {
	if err := checkID("scope", sc.ID); err != nil {
		return err
	}
	q := insertInto("scopes", "id", "description")
	return s.put(ctx, "scope", "scopes", q, sc.ID, sc.Description)
}

// DeleteClient deletes the client; repos.ErrNotFound if there is none.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.delete(ctx, "client", "clients", id)
}

// DeleteUser deletes the user; repos.ErrNotFound if there is none.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.delete(ctx, "user", "users", id)
}

// DeleteScope deletes the scope; repos.ErrNotFound if there is none. Clients
// and users that list it keep it.
func (s *Store) DeleteScope(ctx context.Context, id string) error {
	return s.delete(ctx, "scope", "scopes", id)
}

// put replaces the row of table whose id is args[0] with the one insert
// writes, in one transaction. It is a delete and an insert rather than an
// upsert because MySQL's ON DUPLICATE KEY UPDATE fires on any unique key: a
// new user with a taken username would overwrite that user's row instead of
// failing.
func (s *Store) put(ctx context.Context, what, table, insert string, args ...any) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, rebind(s.dialect.bind, "DELETE FROM "+table+" WHERE id = ?"), args[0]); err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, rebind(s.dialect.bind, insert), args...); err != nil {
		if s.dialect.isDuplicate(err) {
			return fmt.Errorf("storing %s: %w", what, repos.ErrDuplicate)
		}
		return fmt.Errorf("storing %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, what, table, id string) error {
	res, err := s.write.ExecContext(ctx, rebind(s.dialect.bind, "DELETE FROM "+table+" WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("deleting %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, repos.ErrNotFound)
	}
	return nil
}

func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s: empty id", what)
	}
	return nil
}

// checkList rejects entries that the space-separated column encoding would
// not give back unchanged (strings.Fields splits on unicode.IsSpace).
func checkList(what, field string, l []string) error {
	for i, v := range l {
		if v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
			return fmt.Errorf("%s: %s[%d] %q is empty or contains white space", what, field, i, v)
		}
	}
	return nil
}
