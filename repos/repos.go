// Package repos is the storage contract of the authorization server: the entities it
// stores, the interfaces a backend implements and the sentinel errors it returns.
//
// A deployment has two kinds of data. Definitions (clients, users, scopes) change
// rarely and may come from a hand-edited JSON file; token state (one row per refresh
// and access token) changes on every request and must be durable and transactional.
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
	// ErrDuplicate means an insert collided with an existing id.
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

// AccessToken is the stored record of an issued JWT access token (its jti), kept so
// that a family revocation also reaches the access tokens it produced.
type AccessToken struct {
	ID        string
	FamilyID  string
	ClientID  string
	UserID    string // empty without a user (client_credentials)
	Scopes    []string
	ExpiresAt time.Time
}

// RefreshToken is the stored state of one refresh token. FamilyID is shared by every
// token descended from one original grant.
type RefreshToken struct {
	ID        string
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string
	ExpiresAt time.Time
}

// TokenStore keeps token state. Every method is atomic; implementations are safe for
// concurrent use, also by several processes sharing one database.
type TokenStore interface {
	// Issue records the tokens of a fresh grant (password, client_credentials).
	// refresh is nil when no refresh token is issued.
	Issue(ctx context.Context, access AccessToken, refresh *RefreshToken) error

	// Rotate consumes the refresh token oldID and records its successors, all in one
	// transaction. It succeeds only if oldID exists, is unused, unrevoked and not
	// expired at now; of concurrent calls with one oldID exactly one succeeds.
	// Otherwise it records nothing new and returns ErrNotFound, ErrTokenRevoked,
	// ErrTokenExpired, or ErrTokenUsed after revoking oldID's whole family (replay).
	// next is nil when the client gets no successor refresh token.
	Rotate(ctx context.Context, oldID string, now time.Time, access AccessToken, next *RefreshToken) error

	// RevokeFamily revokes every refresh and access token of the family.
	RevokeFamily(ctx context.Context, familyID string) error

	// RefreshTokenState reports the stored state of a refresh token: whether it has
	// been used and whether it is revoked. ErrNotFound for an unknown id.
	RefreshTokenState(ctx context.Context, id string) (used, revoked bool, err error)

	// AccessTokenRevoked reports whether the access token with this jti was revoked.
	// ErrNotFound for an unknown id.
	AccessTokenRevoked(ctx context.Context, id string) (bool, error)
}
