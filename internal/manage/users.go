package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// UserSpec describes a user to add. An empty ID is generated (newUserID). A
// nil Scopes lets the password grant give every scope on the user's behalf;
// an empty one none.
type UserSpec struct {
	Username string
	ID       string
	Scopes   []string
}

// PasswordFunc supplies a password. The commands call it only once the rest
// of their input has been checked, so that nobody types a password for a
// command that then fails on a taken username.
type PasswordFunc func() ([]byte, error)

// AddUser adds a user with the password that password supplies, stored only
// as a hash. It fails if the username or the id is taken.
func (m *Manager) AddUser(ctx context.Context, spec UserSpec, password PasswordFunc) error {
	generated := spec.ID == ""
	if generated {
		spec.ID = newUserID()
	}
	if err := checkUser(spec.ID, spec.Username); err != nil {
		return err
	}
	if err := m.checkScopes(ctx, "--scopes", spec.Scopes); err != nil {
		return err
	}
	if _, err := m.Store.UserByUsername(ctx, spec.Username); err == nil {
		return fmt.Errorf("user %q already exists (use set-password to change the password)", spec.Username)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}
	if _, err := m.Store.UserByID(ctx, spec.ID); err == nil {
		return fmt.Errorf("another user has the id %q", spec.ID)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}

	h, err := m.hashPassword(password)
	if err != nil {
		return err
	}
	u := repos.User{ID: spec.ID, Username: spec.Username, PasswordHash: h, Scopes: spec.Scopes}
	if err := m.Store.PutUser(ctx, u); err != nil {
		if errors.Is(err, repos.ErrDuplicate) {
			// Another command added the username since the check above.
			return fmt.Errorf("user %q already exists", spec.Username)
		}
		return fmt.Errorf("adding user %q: %w", spec.Username, err)
	}
	m.changed("Added user %q with id %q.", spec.Username, spec.ID)
	return nil
}

// SetUserPassword replaces a user's password.
func (m *Manager) SetUserPassword(ctx context.Context, username string, password PasswordFunc) error {
	u, err := m.Store.UserByUsername(ctx, username)
	if err != nil {
		return notFound(err, "user", username)
	}
	if u.PasswordHash, err = m.hashPassword(password); err != nil {
		return err
	}
	if err := m.Store.PutUser(ctx, *u); err != nil {
		return fmt.Errorf("storing user %q: %w", username, err)
	}
	m.changed("Changed the password of user %q.", username)
	return nil
}

// RemoveUser deletes a user, found by username.
func (m *Manager) RemoveUser(ctx context.Context, username string) error {
	u, err := m.Store.UserByUsername(ctx, username)
	if err != nil {
		return notFound(err, "user", username)
	}
	if err := m.Store.DeleteUser(ctx, u.ID); err != nil {
		return notFound(err, "user", username)
	}
	m.changed("Removed user %q (id %q).", username, u.ID)
	return nil
}

// ListUsers prints a table of the users, without their passwords' hashes.
func (m *Manager) ListUsers(ctx context.Context) error {
	users, err := m.Store.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		fmt.Fprintln(m.Err, "No users.")
		return nil
	}
	t := newTable(m.Out, "ID", "USERNAME", "SCOPES")
	for _, u := range users {
		t.row(u.ID, u.Username, describeList(u.Scopes, allScopes))
	}
	return t.flush()
}

// hashPassword gets a password and hashes it. An empty password is refused:
// it is always a mistake (an empty line piped in, Enter pressed at the
// prompt).
func (m *Manager) hashPassword(password PasswordFunc) (string, error) {
	p, err := password()
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", errors.New("the password is empty")
	}
	return m.hash(p)
}
