// Package grants is the authorization server core: it authenticates the client,
// resolves scopes and runs the refresh_token, password and client_credentials
// grants of RFC 6749, minting tokens with package tokens and persisting them
// through package repos. It knows nothing of HTTP; the handler turns a form
// into a Request and a Response or *Error back into JSON.
//
// Behaviour follows league/oauth2-server, corrected where league departs from
// RFC 6749 and RFC 9700: refresh tokens rotate in one transaction, a replayed
// one revokes its family, and a narrowed scope narrows only the access token.
package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/throttle"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Default returns the grants enabled when Config.Grants is empty. The password
// grant is left out because RFC 9700 §2.4 says it MUST NOT be used; it is
// there for migrations from league, when named.
func Default() []string {
	return []string{repos.GrantRefreshToken, repos.GrantClientCredentials}
}

// Request is a token request (RFC 6749 §3.2) as the handler parsed it. An
// empty string means the parameter was omitted.
type Request struct {
	GrantType    string
	ClientID     string
	ClientSecret string
	// BasicAuth records that the credentials came in an Authorization: Basic
	// header, so the handler answers invalid_client with WWW-Authenticate.
	BasicAuth bool
	// Scope is the raw scope parameter, space-delimited.
	Scope        string
	RefreshToken string
	Username     string
	Password     string
	// Issuer is scheme://host[:port] of the request, the iss when
	// Config.Issuer is empty; it is needed only then (Server.NeedsOrigin).
	Issuer string
	// ClientIP is the address failed authentications are counted against:
	// the one Caddy computed, which honours trusted_proxies.
	ClientIP string
}

// Response is a successful token response (RFC 6749 §5.1).
type Response struct {
	// TokenType is always "Bearer".
	TokenType string
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn   int64
	AccessToken string
	// RefreshToken is empty when none is issued.
	RefreshToken string
	// Scope is the space-separated scope of the access token. It is always
	// sent, even when equal to the request's, so clients need not guess.
	Scope string
	// UserID is the resource owner the tokens were issued for, empty for a
	// client's own tokens. It is not part of the answer: it is there for the
	// access log.
	UserID string
}

// Config is what a Server needs. Every field without a stated default is
// required.
type Config struct {
	// Issuer is the iss claim; empty: Request.Issuer.
	Issuer string
	// Audience is the aud claim; empty: the client id, as league does.
	Audience []string
	// AccessTokenTTL is the access token lifetime, at least one second.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of each refresh token, at least one
	// second when a grant issues refresh tokens. Every rotation starts a new
	// one, so an active client never has to log in again.
	RefreshTokenTTL time.Duration
	// RefreshReuseInterval is how long after a refresh token was used a
	// retry with it gets the same successor instead of revoking its family
	// (DESIGN.md §5a); zero is strict, at most MaxReuseInterval.
	RefreshReuseInterval time.Duration
	// Grants are the enabled grant types; empty: refresh_token and client_credentials.
	Grants []string
	// DefaultScope is granted when a request names no scope and the client
	// has no default of its own.
	DefaultScope []string
	// Keys sign the access tokens and verify the ones presented for
	// revocation or introspection.
	Keys Keys
	// Sealer seals refresh tokens; required only when refresh_token is enabled.
	Sealer *tokens.Sealer
	// Definitions looks up clients, users and scopes on every request, so
	// that a change to them takes effect at once.
	Definitions repos.Definitions
	// Tokens records issued tokens and rotates refresh tokens.
	Tokens repos.TokenStore
	// Secrets verifies client secrets and user passwords.
	Secrets *secrets.Verifier
	// Throttle counts failed authentications and locks guessers out; nil:
	// no throttling.
	Throttle *throttle.Limiter
	// OnLockout, if set, hears of every failure that locked its account or
	// address. It runs on the request's goroutine and must be quick.
	OnLockout func(Lockout)
	// RequestTimeout bounds all of one request's work, its database work
	// above all (DESIGN.md §6a db_timeout): past it the request is answered
	// 503 and its writes not committed; zero: no bound but the caller's.
	RequestTimeout time.Duration
	// Now is the clock; nil: time.Now. Tests inject one instead of sleeping.
	Now func() time.Time
}

// Keys are the access tokens' keys: a fixed set, or one that rotates
// (keyset.Manager). Both methods are called on every request that needs
// them, so a rotation takes effect at once.
type Keys interface {
	// Signer returns the key that signs now.
	Signer() *tokens.Signer
	// Verifier returns the published key with this kid, or nil.
	Verifier(kid string) *tokens.Verifier
}

// Server answers token requests. It is safe for concurrent use.
type Server struct {
	cfg    Config
	now    func() time.Time
	grants map[string]grantFunc // the enabled grants, by grant_type
}

// grantFunc runs one grant for a client that is authenticated and allowed to
// use it. now is read once per request so that every check sees one instant.
type grantFunc func(ctx context.Context, r *Request, client *repos.Client, now time.Time) (*Response, *Error)

// NewServer checks cfg and returns a Server. An unknown grant name, a missing
// dependency or a malformed default scope is an error, so that a mistake shows
// at config load and not at the first request.
func NewServer(cfg Config) (*Server, error) {
	cfg.Audience = slices.Clone(cfg.Audience)
	cfg.DefaultScope = slices.Clone(cfg.DefaultScope)
	cfg.Grants = slices.Clone(cfg.Grants)
	if len(cfg.Grants) == 0 {
		cfg.Grants = Default()
	}
	s := &Server{cfg: cfg, now: cfg.Now, grants: make(map[string]grantFunc)}
	if s.now == nil {
		s.now = time.Now
	}

	all := map[string]grantFunc{
		repos.GrantRefreshToken:      s.refresh,
		repos.GrantPassword:          s.password,
		repos.GrantClientCredentials: s.clientCredentials,
	}
	for _, g := range cfg.Grants {
		if err := repos.CheckGrantType(g); err != nil {
			return nil, err
		}
		s.grants[g] = all[g]
	}

	var errs []error
	if err := CheckLifetime(cfg.AccessTokenTTL); err != nil {
		errs = append(errs, fmt.Errorf("AccessTokenTTL: %w", err))
	}
	if s.issuesRefreshTokens() {
		if err := CheckLifetime(cfg.RefreshTokenTTL); err != nil {
			errs = append(errs, fmt.Errorf("RefreshTokenTTL: %w", err))
		}
		if cfg.Sealer == nil {
			errs = append(errs, errors.New("refresh tokens need a sealer (encryption key)"))
		}
	}
	if err := CheckReuseInterval(cfg.RefreshReuseInterval); err != nil {
		errs = append(errs, fmt.Errorf("RefreshReuseInterval: %w", err))
	}
	if cfg.Keys == nil {
		errs = append(errs, errors.New("missing access token signer (keys)"))
	}
	if cfg.Definitions == nil {
		errs = append(errs, errors.New("missing definitions repository"))
	}
	if cfg.Tokens == nil {
		errs = append(errs, errors.New("missing token store"))
	}
	if cfg.Secrets == nil {
		errs = append(errs, errors.New("missing secrets verifier"))
	}
	if err := CheckScopes(cfg.DefaultScope); err != nil {
		errs = append(errs, fmt.Errorf("DefaultScope: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// withDeadline bounds a request by Config.RequestTimeout.
func (s *Server) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.RequestTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// MaxReuseInterval bounds the refresh reuse interval: it serves a client
// whose answer was lost on the network, which retries within seconds, and
// every second of it is a second in which a stolen token's replay goes
// unnoticed.
const MaxReuseInterval = 5 * time.Minute

// CheckReuseInterval refuses a reuse interval outside [0, MaxReuseInterval].
func CheckReuseInterval(d time.Duration) error {
	if d < 0 || d > MaxReuseInterval {
		return fmt.Errorf("must be between 0s and %s", MaxReuseInterval)
	}
	return nil
}

// MinLifetime is the shortest lifetime of a token: expires_in and the
// claims count whole seconds, so anything shorter would be issued expired.
const MinLifetime = time.Second

// CheckLifetime refuses a token lifetime shorter than MinLifetime.
func CheckLifetime(d time.Duration) error {
	if d < MinLifetime {
		return fmt.Errorf("must be at least %s", MinLifetime)
	}
	return nil
}

// Token answers one token request. A non-nil error is always an *Error, ready
// to be written as the OAuth error response.
//
// The checks run in league's order, so that a request with several faults
// gets the same answer as from league: the grant type, the client's identity
// and secret, whether the client may use the grant, then the grant's own
// parameters, credentials or token, and scope last.
func (s *Server) Token(ctx context.Context, r *Request) (*Response, error) {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	resp, err := s.token(ctx, r)
	if err != nil {
		return nil, err // never a typed nil in the interface
	}
	return resp, nil
}

func (s *Server) token(ctx context.Context, r *Request) (*Response, *Error) {
	if r == nil || r.GrantType == "" {
		return nil, InvalidRequest(paramHint("grant_type"))
	}
	grant, ok := s.grants[r.GrantType]
	if !ok {
		return nil, UnsupportedGrantType()
	}
	client, err := s.authenticateClient(ctx, r.ClientID, r.ClientSecret, r.ClientIP)
	if err != nil {
		return nil, err
	}
	if !allows(client.Grants, r.GrantType) {
		return nil, UnauthorizedClient()
	}
	return grant(ctx, r, client, s.now())
}

// issuesRefreshTokens reports whether the server has the refresh_token grant
// enabled; without it no grant hands out refresh tokens.
func (s *Server) issuesRefreshTokens() bool {
	_, ok := s.grants[repos.GrantRefreshToken]
	return ok
}

// mayRefresh reports whether tokens issued to client come with a refresh token.
func (s *Server) mayRefresh(client *repos.Client) bool {
	return s.issuesRefreshTokens() && allows(client.Grants, repos.GrantRefreshToken)
}

// allows reports whether an allow-list admits v; a nil list admits everything,
// an empty one nothing.
func allows(list []string, v string) bool {
	return list == nil || slices.Contains(list, v)
}
