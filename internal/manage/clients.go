package manage

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Descriptions of unrestricted client lists.
const (
	allGrants         = "(all enabled)"
	allScopes         = "(all)"
	directiveDefaults = "(directive's)"
)

// clientSpec describes a client to add. A nil list leaves the client
// unrestricted (every enabled grant, every scope, the directive's default
// scope); an empty one allows nothing.
type clientSpec struct {
	id           string
	name         string
	grants       []string
	scopes       []string
	defaultScope []string
	// public makes a client without a secret, for apps that cannot keep one
	// (RFC 6749 §2.1).
	public bool
	// introspect lets the client introspect every token (RFC 7662), as a
	// resource server that checks the tokens of every client must.
	introspect bool
}

// addClient adds a client. A confidential client gets a generated secret,
// which is printed to stdout, once, and stored only as a hash. It fails if a
// client with the id exists: replacing one would silently change its secret.
func (m *manager) addClient(ctx context.Context, spec clientSpec) error {
	if err := checkClientID(spec.id); err != nil {
		return err
	}
	if err := checkGrants(spec.grants, spec.public); err != nil {
		return err
	}
	if err := checkIntrospect(spec.public, spec.introspect); err != nil {
		return err
	}
	if err := m.checkScopes(ctx, "--scopes", spec.scopes); err != nil {
		return err
	}
	if err := m.checkScopes(ctx, "--default-scope", spec.defaultScope); err != nil {
		return err
	}
	if err := checkDefaultScope(spec.defaultScope, spec.scopes); err != nil {
		return err
	}
	if _, err := m.store.Client(ctx, spec.id); err == nil {
		return fmt.Errorf("client %q already exists (remove it first, or use rotate-secret for a new secret)", spec.id)
	} else if !errors.Is(err, repos.ErrNotFound) {
		return err
	}

	c := repos.Client{
		ID:           spec.id,
		Name:         spec.name,
		Grants:       spec.grants,
		Scopes:       spec.scopes,
		DefaultScope: spec.defaultScope,
		Introspect:   spec.introspect,
	}
	var secret string
	if !spec.public {
		secret = newClientSecret()
		h, err := m.hashSecret([]byte(secret))
		if err != nil {
			return err
		}
		c.SecretHash = h
	}
	if err := m.store.PutClient(ctx, c); err != nil {
		return fmt.Errorf("adding client %q: %w", spec.id, err)
	}
	if spec.public {
		m.changed("Added public client %q (no secret).", spec.id)
		return nil
	}
	m.changed("Added confidential client %q. Its secret, printed below, is shown only this once: store it now.", spec.id)
	fmt.Fprintln(m.stdout, secret)
	return nil
}

// rotateClientSecret gives a confidential client a new generated secret,
// printed to stdout once; the old secret stops working as soon as Caddy sees
// the change. Unless keepTokens, the client's tokens are revoked too: a
// secret is most often rotated because it leaked, and the tokens obtained
// with it would outlive it. A public client is refused: giving it a secret
// would change what kind of client it is, which its app does not expect.
func (m *manager) rotateClientSecret(ctx context.Context, id string, keepTokens bool) error {
	c, err := m.client(ctx, id)
	if err != nil {
		return err
	}
	if !c.Confidential() {
		return fmt.Errorf("client %q is public: it has no secret to rotate", id)
	}
	secret := newClientSecret()
	if c.SecretHash, err = m.hashSecret([]byte(secret)); err != nil {
		return err
	}
	if err := m.store.PutClient(ctx, *c); err != nil {
		return fmt.Errorf("storing client %q: %w", id, err)
	}
	m.changed("New secret for client %q, printed below, is shown only this once: store it now. The old secret no longer works.", id)
	fmt.Fprintln(m.stdout, secret)
	return m.revokeAfter(ctx, clientOwner(id), keepTokens)
}

// clientUpdate is a change to a client's settings: each field that is set
// replaces the client's value, each nil one leaves it as it is. The secret is
// not among them (rotateClientSecret is). The redirect URIs of the
// authorization code flow (DESIGN.md §10) will be one more list here.
type clientUpdate struct {
	name *string
	// grants, scopes and defaultScope point to the new list; a nil list
	// lifts the restriction, as an omitted flag does for addClient.
	grants, scopes, defaultScope *[]string
	introspect                   *bool
}

// updateClient changes the settings of a client that u names, keeping the
// others and its secret. The result is checked as addClient checks a new
// client: a narrowed --scopes must still hold the default scope, say.
func (m *manager) updateClient(ctx context.Context, id string, u clientUpdate) error {
	if u == (clientUpdate{}) {
		return errors.New("nothing to change: give --name, --grants, --scopes, --default-scope, --unrestrict, --introspect or --no-introspect")
	}
	c, err := m.client(ctx, id)
	if err != nil {
		return err
	}
	u.apply(c)
	if err := checkGrants(c.Grants, !c.Confidential()); err != nil {
		return err
	}
	if u.scopes != nil {
		if err := m.checkScopes(ctx, "--scopes", c.Scopes); err != nil {
			return err
		}
	}
	if u.defaultScope != nil {
		if err := m.checkScopes(ctx, "--default-scope", c.DefaultScope); err != nil {
			return err
		}
	}
	if err := checkDefaultScope(c.DefaultScope, c.Scopes); err != nil {
		return err
	}
	if err := checkIntrospect(!c.Confidential(), c.Introspect); err != nil {
		return err
	}
	if err := m.store.PutClient(ctx, *c); err != nil {
		return fmt.Errorf("storing client %q: %w", id, err)
	}
	m.changed("Updated client %q.", id)
	return nil
}

// apply makes the changes of u to c.
func (u clientUpdate) apply(c *repos.Client) {
	if u.name != nil {
		c.Name = *u.name
	}
	for _, l := range []struct{ to, from *[]string }{
		{&c.Grants, u.grants}, {&c.Scopes, u.scopes}, {&c.DefaultScope, u.defaultScope},
	} {
		if l.from != nil {
			*l.to = *l.from
		}
	}
	if u.introspect != nil {
		c.Introspect = *u.introspect
	}
}

// removeClient deletes a client and unless keepTokens revokes its tokens. Its
// refresh tokens stop working either way, since a refresh authenticates the
// client first, but its access tokens are refused before they expire only
// where revocation is checked, and only if revoked.
func (m *manager) removeClient(ctx context.Context, id string, keepTokens bool) error {
	if err := m.store.DeleteClient(ctx, id); err != nil {
		return notFound(err, "client", id)
	}
	m.changed("Removed client %q.", id)
	return m.revokeAfter(ctx, clientOwner(id), keepTokens)
}

// listClients prints a table of the clients, without their secrets' hashes.
func (m *manager) listClients(ctx context.Context) error {
	clients, err := m.store.ListClients(ctx)
	if err != nil {
		return err
	}
	if len(clients) == 0 {
		fmt.Fprintln(m.stderr, "No clients.")
		return nil
	}
	t := newTable(m.stdout, "ID", "TYPE", "NAME", "GRANTS", "SCOPES", "DEFAULT SCOPE")
	for _, c := range clients {
		t.row(c.ID, clientType(&c), c.Name,
			describeList(c.Grants, allGrants),
			describeList(c.Scopes, allScopes),
			describeList(c.DefaultScope, directiveDefaults))
	}
	return t.flush()
}

// showClient prints one client, without its secret's hash.
func (m *manager) showClient(ctx context.Context, id string) error {
	c, err := m.client(ctx, id)
	if err != nil {
		return err
	}
	kind := "public (no secret)"
	if c.Confidential() {
		kind = "confidential (authenticates with a secret)"
	}
	t := newTable(m.stdout, "id:", c.ID)
	t.row("name:", c.Name)
	t.row("type:", kind)
	t.row("grants:", describeList(c.Grants, "(all the directive enables)"))
	t.row("scopes:", describeList(c.Scopes, "(all declared scopes)"))
	t.row("default scope:", describeList(c.DefaultScope, "(the directive's default_scope)"))
	t.row("introspect:", describeIntrospect(c.Introspect))
	return t.flush()
}

// client looks up a client, with a clear error for an unknown id.
func (m *manager) client(ctx context.Context, id string) (*repos.Client, error) {
	c, err := m.store.Client(ctx, id)
	if err != nil {
		return nil, notFound(err, "client", id)
	}
	return c, nil
}

// describeIntrospect says which tokens a client may introspect.
func describeIntrospect(every bool) string {
	if every {
		return "every token"
	}
	return "its own tokens only"
}

// clientType is the TYPE column of the client list.
func clientType(c *repos.Client) string {
	if c.Confidential() {
		return "confidential"
	}
	return "public"
}

// notFound words a repos.ErrNotFound for the user, naming what was looked
// for; other errors pass unchanged.
func notFound(err error, what, id string) error {
	if errors.Is(err, repos.ErrNotFound) {
		return &notFoundError{what: what, id: id}
	}
	return err
}

// notFoundError is an unknown id. It is repos.ErrNotFound to errors.Is.
type notFoundError struct{ what, id string }

func (e *notFoundError) Error() string { return fmt.Sprintf("no %s %q", e.what, e.id) }
func (e *notFoundError) Unwrap() error { return repos.ErrNotFound }
