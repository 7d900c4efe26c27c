package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// TokenRequest is a revocation (RFC 7009 §2.1) or introspection (RFC 7662
// §2.1) request as the handler parsed it: the client's credentials as at the
// token endpoint, and the token asked about.
type TokenRequest struct {
	ClientID     string
	ClientSecret string
	// BasicAuth records that the credentials came in an Authorization: Basic
	// header, so the handler answers invalid_client with WWW-Authenticate.
	BasicAuth bool
	Token     string
	// TokenTypeHint is only a hint (RFC 7009 §2.1): every token is looked
	// up by what it is, so a wrong hint changes nothing.
	TokenTypeHint string
	// Issuer is as Request.Issuer: the request's origin, needed only
	// without a configured issuer.
	Issuer string
	// ClientIP is as Request.ClientIP.
	ClientIP string
}

// maxAccessTokenLen bounds the work spent on a presented access token: ours
// are well under 2 KiB, and anything longer is not one.
const maxAccessTokenLen = 8 << 10

// looksLikeJWT tells an access token (a JWS, three dot-separated segments)
// from a refresh token, whose base64url alphabet has no dot.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

// Revoke revokes a token of the calling client (RFC 7009 §2.1). A refresh
// token revokes its family, and so every access token recorded in it. An
// access token revokes its family when it belongs to one, and is otherwise
// refused by its jti until it expires. A token this server does not know,
// cannot read or that has expired needs no revoking: Revoke succeeds. A
// token of another client is refused with unauthorized_client and revokes
// nothing. A non-nil error is always an *Error.
func (s *Server) Revoke(ctx context.Context, r *TokenRequest) error {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	// revoke returns *Error; a nil one must become a nil error, not a
	// non-nil interface holding a nil pointer.
	if err := s.revoke(ctx, r); err != nil {
		return err
	}
	return nil
}

func (s *Server) revoke(ctx context.Context, r *TokenRequest) *Error {
	client, err := s.authenticateClient(ctx, r.ClientID, r.ClientSecret, r.ClientIP)
	if err != nil {
		return err
	}
	if r.Token == "" {
		return InvalidRequest(paramHint("token"))
	}
	now := s.now()
	if looksLikeJWT(r.Token) {
		return s.revokeAccessToken(ctx, r, client, now)
	}
	return s.revokeRefreshToken(ctx, r.Token, client, now)
}

func (s *Server) revokeRefreshToken(ctx context.Context, token string, client *repos.Client, now time.Time) *Error {
	payload, ok := s.openRefresh(token, now)
	if !ok {
		return nil
	}
	if payload.ClientID != client.ID {
		return NotTokenOwner()
	}
	if err := s.cfg.Tokens.RevokeFamily(ctx, payload.FamilyID); err != nil {
		return TemporarilyUnavailable(fmt.Errorf("revoking a token family: %w", err))
	}
	return nil
}

func (s *Server) revokeAccessToken(ctx context.Context, r *TokenRequest, client *repos.Client, now time.Time) *Error {
	claims, ok := s.verifyAccess(r.Token, r.Issuer, now)
	if !ok {
		return nil
	}
	if claims.ClientID != client.ID {
		return NotTokenOwner()
	}
	state, err := s.cfg.Tokens.AccessToken(ctx, claims.ID)
	switch {
	case errors.Is(err, repos.ErrNotFound):
		err = s.cfg.Tokens.DenyAccessToken(ctx, claims.ID, claims.Expiry)
	case err != nil:
		// The lookup failed: answered below.
	case state.Revoked:
		return nil
	case state.FamilyID != "":
		err = s.cfg.Tokens.RevokeFamily(ctx, state.FamilyID)
	}
	if err != nil {
		return TemporarilyUnavailable(fmt.Errorf("revoking an access token: %w", err))
	}
	return nil
}

// Introspection is the answer of RFC 7662 §2.2. An inactive token's answer
// has Active false and nothing else, whatever made it inactive.
type Introspection struct {
	Active bool
	// TokenType is "Bearer" for an access token, "refresh_token" for a
	// refresh token.
	TokenType string
	Scope     string
	ClientID  string
	// Subject is the user id, or the client id of a token without a user.
	Subject string
	// Username is the user's username, for a token of a user.
	Username string
	Audience []string
	Issuer   string
	// ExpiresAt, IssuedAt and NotBefore are unix seconds; zero when the
	// token does not carry them (a refresh token has no iat).
	ExpiresAt, IssuedAt, NotBefore int64
	ID                             string
}

// Introspect reports whether a token is active and what it grants (RFC
// 7662). Only confidential clients may ask (§2.1: the endpoint must not let
// anyone scan for tokens); public clients get invalid_client. A client
// flagged "introspect" may ask about any token, any other only about its
// own: of anyone else's, as of an unknown, expired or revoked token, it
// learns only that it is not active. A non-nil error is always an *Error.
func (s *Server) Introspect(ctx context.Context, r *TokenRequest) (*Introspection, error) {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	// As Revoke: never a typed nil in the interface.
	in, err := s.introspect(ctx, r)
	if err != nil {
		return nil, err
	}
	return in, nil
}

func (s *Server) introspect(ctx context.Context, r *TokenRequest) (*Introspection, *Error) {
	client, err := s.authenticateClient(ctx, r.ClientID, r.ClientSecret, r.ClientIP)
	if err != nil {
		return nil, err
	}
	if !client.Confidential() {
		return nil, InvalidClient()
	}
	if r.Token == "" {
		return nil, InvalidRequest(paramHint("token"))
	}
	now := s.now()
	if looksLikeJWT(r.Token) {
		return s.introspectAccessToken(ctx, r, client, now)
	}
	return s.introspectRefreshToken(ctx, r, client, now)
}

func (s *Server) introspectAccessToken(ctx context.Context, r *TokenRequest, client *repos.Client, now time.Time) (*Introspection, *Error) {
	claims, ok := s.verifyAccess(r.Token, r.Issuer, now)
	if !ok || !mayIntrospect(client, claims.ClientID) {
		return &Introspection{}, nil
	}
	if gone, err := s.clientGone(ctx, client, claims.ClientID); err != nil || gone {
		return &Introspection{}, err
	}
	state, err := s.cfg.Tokens.AccessToken(ctx, claims.ID)
	switch {
	case errors.Is(err, repos.ErrNotFound):
		// Issued without a refresh token and never revoked.
	case err != nil:
		return nil, TemporarilyUnavailable(fmt.Errorf("reading an access token's state: %w", err))
	case state.Revoked:
		return &Introspection{}, nil
	}
	in := &Introspection{
		Active:    true,
		TokenType: "Bearer",
		Scope:     strings.Join(claims.Scopes, " "),
		ClientID:  claims.ClientID,
		Subject:   claims.Subject,
		Audience:  claims.Audience,
		Issuer:    claims.Issuer,
		ExpiresAt: claims.Expiry.Unix(),
		IssuedAt:  claims.IssuedAt.Unix(),
		NotBefore: unixOrZero(claims.NotBefore),
		ID:        claims.ID,
	}
	// A user's token names the user in sub; a client's own token names the
	// client, and has no username.
	if claims.Subject != claims.ClientID {
		return s.withUsername(ctx, in)
	}
	return in, nil
}

func (s *Server) introspectRefreshToken(ctx context.Context, r *TokenRequest, client *repos.Client, now time.Time) (*Introspection, *Error) {
	payload, ok := s.openRefresh(r.Token, now)
	if !ok || !mayIntrospect(client, payload.ClientID) {
		return &Introspection{}, nil
	}
	if gone, err := s.clientGone(ctx, client, payload.ClientID); err != nil || gone {
		return &Introspection{}, err
	}
	used, revoked, err := s.cfg.Tokens.RefreshTokenState(ctx, payload.ID)
	switch {
	case errors.Is(err, repos.ErrNotFound):
		return &Introspection{}, nil
	case err != nil:
		return nil, TemporarilyUnavailable(fmt.Errorf("reading a refresh token's state: %w", err))
	case used || revoked:
		return &Introspection{}, nil
	}
	in := &Introspection{
		Active:    true,
		TokenType: "refresh_token",
		Scope:     strings.Join(payload.Scopes, " "),
		ClientID:  payload.ClientID,
		Subject:   payload.ClientID,
		Issuer:    s.issuerOf(r.Issuer),
		ExpiresAt: payload.ExpiresAt.Unix(),
		ID:        payload.ID,
	}
	if payload.UserID != "" {
		in.Subject = payload.UserID
		return s.withUsername(ctx, in)
	}
	return in, nil
}

// withUsername adds the username of the token's user. A user who no longer
// exists makes the token inactive, as the refresh grant refuses such a
// user's refresh token.
func (s *Server) withUsername(ctx context.Context, in *Introspection) (*Introspection, *Error) {
	user, err := s.cfg.Definitions.UserByID(ctx, in.Subject)
	switch {
	case errors.Is(err, repos.ErrNotFound):
		return &Introspection{}, nil
	case err != nil:
		return nil, TemporarilyUnavailable(fmt.Errorf("reading the token's user: %w", err))
	}
	in.Username = user.Username
	return in, nil
}

// clientGone reports whether the client a token was issued to no longer
// exists: its tokens are inactive then, the ones of no family included,
// which no revocation reaches. The caller is the owner (it just
// authenticated) unless it may introspect every token.
func (s *Server) clientGone(ctx context.Context, caller *repos.Client, owner string) (bool, *Error) {
	if caller.ID == owner {
		return false, nil
	}
	_, err := s.cfg.Definitions.Client(ctx, owner)
	switch {
	case errors.Is(err, repos.ErrNotFound):
		return true, nil
	case err != nil:
		return false, TemporarilyUnavailable(fmt.Errorf("looking up the token's client: %w", err))
	}
	return false, nil
}

// unixOrZero is t in unix seconds, zero for the zero time.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// mayIntrospect reports whether client may learn about a token issued to
// owner.
func mayIntrospect(client *repos.Client, owner string) bool {
	return client.Introspect || client.ID == owner
}

// verifyAccess returns the claims of an access token this server issued:
// signed by a published key, of type at+jwt, with our iss, within nbf and
// exp. ok is false for anything else, which revocation ignores and
// introspection reports inactive.
func (s *Server) verifyAccess(token, requestIssuer string, now time.Time) (*tokens.AccessClaims, bool) {
	if len(token) > maxAccessTokenLen {
		return nil, false
	}
	claims, err := tokens.VerifyAccessToken(token, now, s.cfg.Keys.Verifier)
	if err != nil || claims.Issuer != s.issuerOf(requestIssuer) {
		return nil, false
	}
	return claims, true
}

// openRefresh unseals a refresh token of this server that has not expired
// at now; ok is false for anything else.
func (s *Server) openRefresh(token string, now time.Time) (*tokens.RefreshPayload, bool) {
	if s.cfg.Sealer == nil {
		return nil, false // no refresh token was ever issued
	}
	payload, err := s.cfg.Sealer.Open(token)
	if err != nil || !now.Before(payload.ExpiresAt) {
		return nil, false
	}
	return payload, true
}
