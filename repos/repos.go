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
	// ErrUnavailable means the backend could not answer: its database is
	// down, unreachable, locked or too slow for the request's deadline. It
	// wraps the cause. The same request may succeed later, so the server
	// answers 503 with Retry-After, never 500.
	ErrUnavailable = errors.New("storage unavailable")
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
	// Introspect lets the client introspect every token (RFC 7662), not only
	// tokens issued to itself: a resource server that checks the tokens of
	// every client needs it, and no other client should see them.
	Introspect bool `json:"introspect,omitempty"`
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
// lifetime is what bounds it, unless it is revoked on its own (DenyAccessToken).
// The one access token of a family recorded on its own is that of a retry within
// the reuse interval (Rotation), which hands out a successor already recorded.
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

	// Rotate consumes the refresh token r.OldID and records its successor
	// r.Next, and with it the new access token named by r.Next.AccessTokenID,
	// all in one transaction, and returns the successor recorded: r.Next, or
	// on a retry within r.ReuseInterval the successor recorded before.
	//
	// It succeeds only if OldID exists, is unused, unrevoked and not expired
	// at Now; of concurrent calls with one OldID exactly one consumes it.
	// Otherwise it records nothing new and returns ErrNotFound,
	// ErrTokenRevoked, ErrTokenExpired, or ErrTokenUsed after revoking
	// OldID's whole family (replay), unless the call is a retry within the
	// reuse interval (Rotation.ReuseInterval).
	// ErrDuplicate if Next's ID or AccessTokenID is taken; OldID is left
	// unused then. Next.FamilyID must be OldID's family; otherwise Rotate
	// fails and changes nothing.
	// Rotate is idempotent: called again with the same Rotation after it
	// succeeded (its answer lost), it succeeds, returns what it returned the
	// first time and changes nothing.
	Rotate(ctx context.Context, r Rotation) (RefreshToken, error)

	// RevokeFamily revokes every refresh token of the family and so every access
	// token recorded with them. An unknown family is not an error.
	RevokeFamily(ctx context.Context, familyID string) error

	// RefreshTokenState reports the stored state of a refresh token: whether it has
	// been used and whether it is revoked. ErrNotFound for an unknown id.
	RefreshTokenState(ctx context.Context, id string) (used, revoked bool, err error)

	// AccessToken reports the state of the access token with this jti:
	// recorded with a refresh token (its AccessTokenID), issued by a
	// reuse-interval retry, or denylisted (DenyAccessToken). ErrNotFound
	// otherwise: an unknown jti, or an access token issued without a refresh
	// token and never denied, which nothing has revoked.
	AccessToken(ctx context.Context, jti string) (AccessTokenState, error)

	// DenyAccessToken refuses the access token jti, which belongs to no
	// family, until expiresAt, its expiry; AccessToken reports it revoked
	// from then on. Denying it again is not an error.
	DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error

	// RevokeFamilies revokes every family that has a refresh token of the
	// given client or user (exactly one of the two is set) and returns how
	// many families it revoked, not counting those revoked already. It is for
	// operators (the command line), not for the request path: a backend may
	// read every stored token to find them.
	RevokeFamilies(ctx context.Context, by FamilyOwner) (int, error)
}

// Rotation is one refresh-token rotation.
type Rotation struct {
	OldID string       // the presented refresh token
	Now   time.Time    // the time of the request; stored times are unix seconds
	Next  RefreshToken // the successor the server minted
	// ReuseInterval (DESIGN.md §5a; 0 = strict): within it after OldID was
	// consumed, presenting OldID again returns OldID's recorded successor
	// instead of being a replay, provided that successor is unused, unexpired
	// and its family not revoked. Next.ID is not recorded then;
	// Next.AccessTokenID is recorded as an access token of the family until
	// AccessExpiresAt, so that revoking the family revokes it too. Within
	// means that Now is before the time OldID was consumed plus
	// ReuseInterval, both in whole unix seconds.
	ReuseInterval time.Duration
	// AccessExpiresAt is the expiry of Next's access token. It is required
	// when ReuseInterval is set.
	AccessExpiresAt time.Time
}

// AccessTokenState is what the store knows of an access token.
type AccessTokenState struct {
	FamilyID string // "" for an access token of no family (a denylisted jti)
	Revoked  bool
}

// FamilyOwner names whose families RevokeFamilies revokes: a client's or a
// user's. Exactly one field is set.
type FamilyOwner struct{ ClientID, UserID string }
