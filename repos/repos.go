// Package repos is the storage contract of the authorization server: the entities it
// stores, the interfaces a backend implements and the sentinel errors it returns.
//
// A deployment has two kinds of data. Definitions (clients, users, scopes) change
// rarely and may come from a hand-edited JSON file; token state (one record per
// refresh token, which also records the access token issued with it) changes on
// every request and must be durable and transactional.
// The two are separate interfaces so that `repository file` can pair a JSON file with
// a SQL token store.
package repos

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every backend; callers test them with errors.Is.
var (
	// ErrNotFound means no client, user, scope or token has the given id.
	ErrNotFound = errors.New("not found")
	// ErrTokenUsed means the refresh token was already rotated: presenting it again
	// is a replay. The backend has revoked its whole family when it returns this.
	ErrTokenUsed = errors.New("refresh token already used")
	// ErrTokenRevoked means the refresh token's family was revoked.
	ErrTokenRevoked = errors.New("refresh token revoked")
	// ErrTokenExpired means the refresh token is past its expiry.
	ErrTokenExpired = errors.New("refresh token expired")
	// ErrDuplicate means an insert collided with an existing id: a refresh token's
	// own, or the jti of the access token recorded with it.
	ErrDuplicate = errors.New("duplicate id")
)

// Client is an OAuth client. A nil slice means "no restriction" (every enabled grant,
// every scope), which is different from an empty one (nothing allowed).
type Client struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// SecretHash is a bcrypt ($2a$/$2b$/$2y$) or argon2id PHC hash; empty for a
	// public client.
	SecretHash   string   `json:"secret_hash,omitempty"`
	Grants       []string `json:"grants,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	DefaultScope []string `json:"default_scope,omitempty"`
}

// Confidential reports whether the client has a secret and must authenticate.
func (c *Client) Confidential() bool { return c.SecretHash != "" }

// User is a resource owner for the password grant. A nil Scopes means every scope.
type User struct {
	ID           string   `json:"id"`
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Scopes       []string `json:"scopes,omitempty"`
}

// Scope is a permission a client may request.
type Scope struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
}

// Definitions looks up clients, users and scopes. Implementations are safe for
// concurrent use. Lookups of a missing id return ErrNotFound.
type Definitions interface {
	Client(ctx context.Context, id string) (*Client, error)
	UserByUsername(ctx context.Context, username string) (*User, error)
	UserByID(ctx context.Context, id string) (*User, error)
	Scope(ctx context.Context, id string) (*Scope, error)
}

// RefreshToken is the stored state of one refresh token. FamilyID is shared by every
// token descended from one original grant.
//
// The access token issued together with a refresh token is recorded in it rather
// than on its own: a rotation then writes one new record instead of two, and a
// family revocation, which revokes the family's refresh tokens, revokes the access
// tokens recorded in them with no further write. An access token issued without a
// refresh token (client_credentials, or a client that may not refresh) is not
// recorded at all: it belongs to no family a replay could revoke, and its short
// lifetime is what bounds it.
type RefreshToken struct {
	ID        string
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string
	ExpiresAt time.Time
	// AccessTokenID is the jti of the access token issued with this refresh token;
	// revoking the family revokes that access token too. It is required, and unique
	// across refresh tokens like ID.
	AccessTokenID string
}

// TokenStore keeps token state. Every method is atomic; implementations are safe for
// concurrent use, also by several processes sharing one database.
type TokenStore interface {
	// Issue records the refresh token of a fresh grant (password), which starts
	// a new family, and, through its AccessTokenID, the access token issued with
	// it. ErrDuplicate if its ID, AccessTokenID or FamilyID is taken; nothing is
	// recorded then.
	Issue(ctx context.Context, refresh RefreshToken) error

	// Rotate consumes the refresh token oldID and records its successor next, and
	// with it the new access token named by next.AccessTokenID, all in one
	// transaction. It succeeds only if oldID exists, is unused, unrevoked and not
	// expired at now; of concurrent calls with one oldID exactly one succeeds.
	// Otherwise it records nothing new and returns ErrNotFound, ErrTokenRevoked,
	// ErrTokenExpired, or ErrTokenUsed after revoking oldID's whole family (replay).
	// ErrDuplicate if next's ID or AccessTokenID is taken; oldID is left unused then.
	// next.FamilyID must be oldID's family; otherwise Rotate fails and changes nothing.
	// Rotate is idempotent: called again with the same next after it succeeded
	// (its answer lost), it succeeds and changes nothing.
	Rotate(ctx context.Context, oldID string, now time.Time, next RefreshToken) error

	// RevokeFamily revokes every refresh token of the family and so every access
	// token recorded with them. An unknown family is not an error.
	RevokeFamily(ctx context.Context, familyID string) error

	// RefreshTokenState reports the stored state of a refresh token: whether it has
	// been used and whether it is revoked. ErrNotFound for an unknown id.
	RefreshTokenState(ctx context.Context, id string) (used, revoked bool, err error)

	// AccessTokenRevoked reports whether the access token with this jti was revoked,
	// which it is when the refresh token it was issued with is. ErrNotFound when no
	// refresh token records it: an unknown jti, or an access token issued without a
	// refresh token, which nothing can revoke.
	AccessTokenRevoked(ctx context.Context, id string) (bool, error)
}
