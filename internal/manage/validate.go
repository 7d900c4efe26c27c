package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The commands check what they store as the definitions file's loader does,
// for both backends, so that a SQL repository cannot be given an entry that
// the token endpoint would trip over later and a file edit is refused with a
// message about the flag rather than about the file. They are a little
// stricter in one way: ids and usernames may not contain control characters,
// which no client sends and which would garble the listings.

// checkClientID applies the repository's rule for client ids
// (repos.CheckClientID), and refuses control characters.
func checkClientID(id string) error {
	if err := repos.CheckClientID(id); err != nil {
		return fmt.Errorf("client %q: %w", id, err)
	}
	if hasControl(id) {
		return fmt.Errorf("client id %q contains control characters", id)
	}
	return nil
}

// checkUser applies the repository's rules for user ids and usernames
// (repos.CheckUserID, repos.CheckUsername), and refuses control characters.
func checkUser(id, username string) error {
	if err := repos.CheckUsername(username); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	if hasControl(username) {
		return fmt.Errorf("username %q contains control characters", username)
	}
	if err := repos.CheckUserID(id); err != nil {
		return fmt.Errorf("user %q: %w", username, err)
	}
	if hasControl(id) {
		return fmt.Errorf("user id %q contains control characters", id)
	}
	return nil
}

// checkScopeID rejects what cannot be a scope: anything but a scope-token of
// RFC 6749 §3.3 no longer than a request may name (repos.IsScopeToken). A
// scope over that bound is told so, rather than about characters it may well
// not have.
func checkScopeID(id string) error {
	switch {
	case repos.IsScopeToken(id):
		return nil
	case len(id) > repos.MaxScopeLength:
		return fmt.Errorf("scope %q is longer than %d bytes", id, repos.MaxScopeLength)
	}
	return fmt.Errorf("scope %q: a scope may contain only printable ASCII other than space, \" and \\ (RFC 6749 §3.3)", id)
}

// checkGrants rejects unknown and repeated grant names, and naming the
// client_credentials grant for a public client, which the token endpoint
// would refuse it (RFC 6749 §4.4 is for confidential clients only).
func checkGrants(list []string, public bool) error {
	for i, g := range list {
		if err := repos.CheckGrantType(g); err != nil {
			return fmt.Errorf("--grants: %w", err)
		}
		if slices.Contains(list[:i], g) {
			return fmt.Errorf("--grants: %q is named twice", g)
		}
	}
	if public && slices.Contains(list, repos.GrantClientCredentials) {
		return errors.New("--grants: a public client cannot use client_credentials")
	}
	return nil
}

// checkIntrospect refuses --introspect for a public client: only a
// confidential client may call the introspection endpoint, as
// repos.CheckIntrospect, which the definitions file applies, has it.
func checkIntrospect(public, introspect bool) error {
	if public && introspect {
		return errors.New("--introspect: only a confidential client may call the introspection endpoint")
	}
	return nil
}

// checkScopes rejects malformed and repeated scopes, and scopes the store
// does not declare. Undeclared scopes are refused rather than warned about:
// the definitions file would not load with them, and a SQL repository would
// answer invalid_scope to every request that names them.
func (m *manager) checkScopes(ctx context.Context, flag string, list []string) error {
	var unknown []string
	for i, s := range list {
		if err := checkScopeID(s); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
		if slices.Contains(list[:i], s) {
			return fmt.Errorf("%s: %q is named twice", flag, s)
		}
		_, err := m.store.Scope(ctx, s)
		switch {
		case errors.Is(err, repos.ErrNotFound):
			unknown = append(unknown, s)
		case err != nil:
			return err
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%s: unknown scope %s; declare it first with `caddy oauth2 scope add %s`",
			flag, quoteList(unknown), strings.Join(unknown, " "))
	}
	return nil
}

// checkDefaultScope rejects a default scope outside the client's scopes: the
// token endpoint would refuse every request that relies on it.
func checkDefaultScope(def, scopes []string) error {
	if scopes == nil {
		return nil
	}
	for _, s := range def {
		if !slices.Contains(scopes, s) {
			return fmt.Errorf("--default-scope: %q is not among the client's --scopes", s)
		}
	}
	return nil
}

// hasControl reports whether s contains a control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// quoteList renders a list of names as "a", "b".
func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
