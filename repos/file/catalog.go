package file

import (
	"context"
	"maps"
	"slices"
)

// ScopeIDs returns the id of every scope, sorted; empty, not nil, when there
// are none, as the SQL backend's.
func (d *Definitions) ScopeIDs(context.Context) ([]string, error) {
	ids := slices.AppendSeq(make([]string, 0, len(d.scopes)), maps.Keys(d.scopes))
	slices.Sort(ids)
	return ids, nil
}

// HasPublicClients reports whether any client has no secret.
func (d *Definitions) HasPublicClients(context.Context) (bool, error) {
	for _, c := range d.clients {
		if !c.Confidential() {
			return true, nil
		}
	}
	return false, nil
}

// ScopeIDs returns the id of every scope of the file's current version.
func (w *Watched) ScopeIDs(ctx context.Context) ([]string, error) {
	return w.Current().ScopeIDs(ctx)
}

// HasPublicClients reports whether the file's current version has a public
// client.
func (w *Watched) HasPublicClients(ctx context.Context) (bool, error) {
	return w.Current().HasPublicClients(ctx)
}

// UserPasswordHash returns some user's password hash, "" without users.
func (d *Definitions) UserPasswordHash(context.Context) (string, error) {
	for _, u := range d.users {
		return u.PasswordHash, nil
	}
	return "", nil
}

// UserPasswordHash returns some user's password hash of the file's current
// version.
func (w *Watched) UserPasswordHash(ctx context.Context) (string, error) {
	return w.Current().UserPasswordHash(ctx)
}
