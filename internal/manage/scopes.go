package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// addScope declares a scope. It fails if the scope exists.
func (m *manager) addScope(ctx context.Context, id, description string) error {
	if err := checkScopeID(id); err != nil {
		return err
	}
	if _, err := m.store.Scope(ctx, id); err == nil {
		return fmt.Errorf("scope %q already exists", id)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}
	if err := m.store.PutScope(ctx, repos.Scope{ID: id, Description: description}); err != nil {
		return fmt.Errorf("adding scope %q: %w", id, err)
	}
	m.changed("Added scope %q.", id)
	return nil
}

// listScopes prints a table of the scopes.
func (m *manager) listScopes(ctx context.Context) error {
	scopes, err := m.store.ListScopes(ctx)
	if err != nil {
		return err
	}
	if len(scopes) == 0 {
		fmt.Fprintln(m.stderr, "No scopes.")
		return nil
	}
	t := newTable(m.stdout, "ID", "DESCRIPTION")
	for _, s := range scopes {
		t.row(s.ID, s.Description)
	}
	return t.flush()
}

// removeScope deletes a scope. A scope that clients or users still name is
// refused, naming them, unless force is set: then it is first taken out of
// their lists. That only ever narrows what they may do; a list left empty
// allows nothing rather than everything.
func (m *manager) removeScope(ctx context.Context, id string, force bool) error {
	if _, err := m.store.Scope(ctx, id); err != nil {
		return notFound(err, "scope", id)
	}
	clients, users, err := m.scopeUsers(ctx, id)
	if err != nil {
		return err
	}
	if len(clients)+len(users) > 0 && !force {
		return fmt.Errorf("scope %q is still named by %s; remove it from them with --force, which narrows their scopes",
			id, referrers(clients, users))
	}
	for _, c := range clients {
		c.Scopes, c.DefaultScope = without(c.Scopes, id), without(c.DefaultScope, id)
		if err := m.store.PutClient(ctx, c); err != nil {
			return fmt.Errorf("storing client %q: %w", c.ID, err)
		}
	}
	for _, u := range users {
		u.Scopes = without(u.Scopes, id)
		if err := m.store.PutUser(ctx, u); err != nil {
			return fmt.Errorf("storing user %q: %w", u.Username, err)
		}
	}
	if err := m.store.DeleteScope(ctx, id); err != nil {
		return notFound(err, "scope", id)
	}
	if len(clients)+len(users) > 0 {
		m.changed("Removed scope %q, and took it out of %s.", id, referrers(clients, users))
	} else {
		m.changed("Removed scope %q.", id)
	}
	return nil
}

// scopeUsers returns the clients and users whose lists name the scope.
func (m *manager) scopeUsers(ctx context.Context, id string) ([]repos.Client, []repos.User, error) {
	allClients, err := m.store.ListClients(ctx)
	if err != nil {
		return nil, nil, err
	}
	allUsers, err := m.store.ListUsers(ctx)
	if err != nil {
		return nil, nil, err
	}
	var clients []repos.Client
	for _, c := range allClients {
		if slices.Contains(c.Scopes, id) || slices.Contains(c.DefaultScope, id) {
			clients = append(clients, c)
		}
	}
	var users []repos.User
	for _, u := range allUsers {
		if slices.Contains(u.Scopes, id) {
			users = append(users, u)
		}
	}
	return clients, users, nil
}

// referrers names the clients and users for a message.
func referrers(clients []repos.Client, users []repos.User) string {
	var parts []string
	if len(clients) > 0 {
		ids := make([]string, len(clients))
		for i, c := range clients {
			ids[i] = c.ID
		}
		parts = append(parts, plural(len(clients), "client")+" ("+quoteList(ids)+")")
	}
	if len(users) > 0 {
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = u.Username
		}
		parts = append(parts, plural(len(users), "user")+" ("+quoteList(names)+")")
	}
	return strings.Join(parts, " and ")
}

// without returns l without s, keeping nil nil and an emptied list empty.
func without(l []string, s string) []string {
	if l == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(l), func(x string) bool { return x == s })
}
