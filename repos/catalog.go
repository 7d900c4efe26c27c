package repos

import "context"

// Catalog summarises the definitions for an authorization server's metadata
// (RFC 8414), the scopes it offers and whether public clients exist, and for
// its timing defence, a user's hash. It may read whole tables, so it is
// called when the metadata is rebuilt or the server provisioned, not per
// request. Every backend's Definitions implement it.
type Catalog interface {
	// ScopeIDs returns the id of every scope, sorted.
	ScopeIDs(ctx context.Context) ([]string, error)
	// HasPublicClients reports whether any client has no secret.
	HasPublicClients(ctx context.Context) (bool, error)
	// UserPasswordHash returns the password hash of some user, "" when
	// there is none: the server checks unknown usernames against a hash of
	// the users' own parameters, so that they cost what known ones do.
	UserPasswordHash(ctx context.Context) (string, error)
}
