package repos

import "context"

// Catalog summarises the definitions for an authorization server's metadata
// (RFC 8414): the scopes it offers and whether public clients exist. It reads
// whole tables, so it is called when the metadata is rebuilt, not per request.
// Every backend's Definitions implement it.
type Catalog interface {
	// ScopeIDs returns the id of every scope, sorted.
	ScopeIDs(ctx context.Context) ([]string, error)
	// HasPublicClients reports whether any client has no secret.
	HasPublicClients(ctx context.Context) (bool, error)
}
