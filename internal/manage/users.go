package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// userSpec describes a user to add. An empty id is generated (newUserID). A
// nil scopes list lets the password grant give every scope on the user's
// behalf; an empty one none.
type userSpec struct {
	username string
	id       string
	scopes   []string
}

// passwordFunc supplies a password. The commands call it only once the rest
// of their input has been checked, so that nobody types a password for a
// command that then fails on a taken username.
type passwordFunc func() ([]byte, error)

// addUser adds a user with the password that password supplies, stored only
// as a hash. It fails if the username or the id is taken.
func (m *manager) addUser(ctx context.Context, spec userSpec, password passwordFunc) error {
	generated := spec.id == ""
	if generated {
		spec.id = newUserID()
	}
	if err := checkUser(spec.id, spec.username); err != nil {
		return err
	}
	if err := m.checkScopes(ctx, "--scopes", spec.scopes); err != nil {
		return err
	}
	if _, err := m.store.UserByUsername(ctx, spec.username); err == nil {
		return fmt.Errorf("user %q already exists (use set-password to change the password)", spec.username)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}
	if _, err := m.store.UserByID(ctx, spec.id); err == nil {
		return fmt.Errorf("another user has the id %q", spec.id)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}

	h, err := m.hashPassword(password)
	if err != nil {
		return err
	}
	u := repos.User{ID: spec.id, Username: spec.username, PasswordHash: h, Scopes: spec.scopes}
	if err := m.store.PutUser(ctx, u); err != nil {
		if errors.Is(err, repos.ErrDuplicate) {
			// Another command added the username since the check above.
			return fmt.Errorf("user %q already exists", spec.username)
		}
		return fmt.Errorf("adding user %q: %w", spec.username, err)
	}
	m.changed("Added user %q with id %q.", spec.username, spec.id)
	return nil
}

// setUserPassword replaces a user's password and, unless keepTokens, revokes
// the user's tokens: a new password is most often set because the old one
// leaked, and the tokens obtained with it would outlive it.
func (m *manager) setUserPassword(ctx context.Context, username string, password passwordFunc, keepTokens bool) error {
	u, err := m.store.UserByUsername(ctx, username)
	if err != nil {
		return notFound(err, "user", username)
	}
	if u.PasswordHash, err = m.hashPassword(password); err != nil {
		return err
	}
	if err := m.store.PutUser(ctx, *u); err != nil {
		return fmt.Errorf("storing user %q: %w", username, err)
	}
	m.changed("Changed the password of user %q.", username)
	return m.revokeAfter(ctx, userOwner(u), keepTokens)
}

// removeUser deletes a user, found by username, and unless keepTokens
// revokes its tokens. Its refresh tokens stop working either way (a refresh
// looks the user up), but its access tokens are refused before they expire
// only where revocation is checked, and only if revoked.
func (m *manager) removeUser(ctx context.Context, username string, keepTokens bool) error {
	u, err := m.store.UserByUsername(ctx, username)
	if err != nil {
		return notFound(err, "user", username)
	}
	if err := m.store.DeleteUser(ctx, u.ID); err != nil {
		return notFound(err, "user", username)
	}
	m.changed("Removed user %q (id %q).", username, u.ID)
	return m.revokeAfter(ctx, userOwner(u), keepTokens)
}

// listUsers prints a table of the users, without their passwords' hashes.
func (m *manager) listUsers(ctx context.Context) error {
	users, err := m.store.ListUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		fmt.Fprintln(m.stderr, "No users.")
		return nil
	}
	t := newTable(m.stdout, "ID", "USERNAME", "SCOPES")
	for _, u := range users {
		t.row(u.ID, u.Username, describeList(u.Scopes, allScopes))
	}
	return t.flush()
}

// hashPassword gets a password and hashes it. An empty password is refused:
// it is always a mistake (an empty line piped in, Enter pressed at the
// prompt).
func (m *manager) hashPassword(password passwordFunc) (string, error) {
	p, err := password()
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", errors.New("the password is empty")
	}
	return m.hashSecret(p)
}
