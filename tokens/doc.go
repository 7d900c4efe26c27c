// Package tokens makes and checks the credentials the token endpoint hands out:
// JWT access tokens (RFC 9068) signed with the operator's key, and opaque refresh
// tokens sealed with AES-256-GCM so that a forged or tampered one is rejected
// before any database work. It also loads the signing key from the PEM formats
// operators' tools write. It knows nothing of HTTP, Caddy or storage.
package tokens
