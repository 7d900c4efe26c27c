package grants

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// issuance is what a grant decided to hand out; issue turns it into tokens.
type issuance struct {
	client *repos.Client
	// userID is the resource owner, empty without one; the access token's sub
	// is the user id, else the client id (RFC 9068 §2.2).
	userID string
	// familyID groups every token descended from one original grant, so that
	// a replay can revoke them all.
	familyID string
	// scopes are the access token's.
	scopes []string
	// refresh asks for a refresh token carrying refreshScopes, which for a
	// refresh are the presented token's and may be wider than scopes.
	refresh       bool
	refreshScopes []string
}

// issued holds the minted tokens: the record for the token store and the
// response for the client.
type issued struct {
	// refresh is the refresh token's record, which also records the access
	// token through its AccessTokenID; nil when no refresh token was issued,
	// and then there is nothing to record: an access token of no family is
	// one no replay can revoke.
	refresh  *repos.RefreshToken
	response *Response
}

// issue mints the access token and, if asked, the refresh token of is. It
// touches no storage: the grant records the result, in Issue or Rotate, so
// that no signing happens inside a database transaction.
func (s *Server) issue(r *Request, is issuance, now time.Time) (*issued, *Error) {
	// Whole seconds, as in the JWT and the sealed payload, so the stored
	// expiries equal the ones the tokens carry.
	now = now.Truncate(time.Second)
	subject := is.userID
	if subject == "" {
		subject = is.client.ID
	}

	claims := tokens.AccessClaims{
		Issuer:   s.issuer(r),
		Subject:  subject,
		Audience: s.audience(is.client),
		ClientID: is.client.ID,
		Scopes:   is.scopes,
		IssuedAt: now,
		Expiry:   now.Add(s.cfg.AccessTokenTTL),
		ID:       tokens.NewID(),
	}
	jwt, err := s.cfg.Keys.Signer().Mint(claims)
	if err != nil {
		return nil, ServerError(fmt.Errorf("minting access token: %w", err))
	}
	out := &issued{
		response: &Response{
			TokenType:   "Bearer",
			ExpiresIn:   int64(s.cfg.AccessTokenTTL / time.Second),
			AccessToken: jwt,
			Scope:       strings.Join(is.scopes, " "),
			UserID:      is.userID,
		},
	}
	if !is.refresh {
		return out, nil
	}

	rt := &repos.RefreshToken{
		ID:            tokens.NewID(),
		FamilyID:      is.familyID,
		ClientID:      is.client.ID,
		UserID:        is.userID,
		Scopes:        is.refreshScopes,
		ExpiresAt:     now.Add(s.cfg.RefreshTokenTTL),
		AccessTokenID: claims.ID,
	}
	sealed, err := s.cfg.Sealer.Seal(tokens.RefreshPayload{
		ID:        rt.ID,
		FamilyID:  rt.FamilyID,
		ClientID:  rt.ClientID,
		UserID:    rt.UserID,
		Scopes:    rt.Scopes,
		ExpiresAt: rt.ExpiresAt,
	})
	if err != nil {
		return nil, ServerError(fmt.Errorf("sealing refresh token: %w", err))
	}
	out.refresh = rt
	out.response.RefreshToken = sealed
	return out, nil
}

// issuer is the iss claim: the configured issuer, else the request's origin.
// NeedsOrigin reports whether tokens take their iss from the request, that
// is whether Request.Issuer must be set: without a configured issuer. The
// handler asks, so that it builds the origin only when it is used.
func (s *Server) NeedsOrigin() bool { return s.cfg.Issuer == "" }

func (s *Server) issuer(r *Request) string { return s.issuerOf(r.Issuer) }

// issuerOf is the configured issuer, else requestIssuer, the request's
// origin.
func (s *Server) issuerOf(requestIssuer string) string {
	if s.cfg.Issuer != "" {
		return s.cfg.Issuer
	}
	return requestIssuer
}

// audience is the aud claim: the configured audience, else the client id.
func (s *Server) audience(client *repos.Client) []string {
	if len(s.cfg.Audience) > 0 {
		return s.cfg.Audience
	}
	return []string{client.ID}
}
