package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// The hints of a refused refresh token, in league's words. A replay gets the
// revoked hint too: telling the presenter that the token was used would tell a
// thief that the legitimate client got there first.
const (
	hintUndecryptable = "Cannot decrypt the refresh token"
	hintOtherClient   = "Token is not linked to client"
	hintExpired       = "Token has expired"
	hintRevoked       = "Token has been revoked"
	hintUnknown       = "Token is unknown"
)

// refresh runs the refresh token grant (RFC 6749 §6) with rotation and replay
// detection (RFC 9700 §4.14): the presented token is consumed, and a
// successor with the same family, user and scope takes its place.
//
// Every refusal before step 5 leaves the presented token exactly as it was,
// so that a client's mistake (a wrong scope) or someone else's forgery cannot
// burn a legitimate token. A client no longer allowed refresh_token is refused
// with unauthorized_client before its token is even opened, so whenever a
// refresh succeeds it returns a successor.
func (s *Server) refresh(ctx context.Context, r *Request, client *repos.Client, now time.Time) (*Response, *Error) {
	// 1. The refresh_token parameter is required.
	if r.RefreshToken == "" {
		return nil, InvalidRequest(paramHint("refresh_token"))
	}

	// 2. The token must be one of ours, issued to this client, unexpired.
	// None of this touches the database.
	payload, oerr := s.openRefreshToken(r.RefreshToken, client, now)
	if oerr != nil {
		return nil, oerr
	}

	// 3. The user it was issued for must still exist.
	user, oerr := s.tokenUser(ctx, payload)
	if oerr != nil {
		return nil, oerr
	}

	// 4. The scope may be narrowed, never widened; omitted, it is the
	// token's whole scope.
	scopes, oerr := s.refreshScopes(ctx, r.Scope, payload.Scopes, client, user)
	if oerr != nil {
		return nil, oerr
	}

	// 5. Mint the access token and the successor, outside the transaction so
	// that no lock is held while signing. The successor keeps the presented
	// token's full scope: a narrowed request narrows only the access token.
	out, oerr := s.issue(r, issuance{
		client:        client,
		userID:        payload.UserID,
		familyID:      payload.FamilyID,
		scopes:        scopes,
		refresh:       true,
		refreshScopes: payload.Scopes,
	}, now)
	if oerr != nil {
		return nil, oerr
	}

	// 6. Consume the presented token and record the successor, which records
	// the new access token, atomically: of concurrent refreshes with one token
	// exactly one gets here, and a token already consumed is a replay that
	// revokes its family, the access tokens recorded in it included. issue was
	// asked for a refresh token, so out.refresh is set.
	recorded, err := s.cfg.Tokens.Rotate(ctx, repos.Rotation{
		OldID:           payload.ID,
		Now:             now,
		Next:            *out.refresh,
		ReuseInterval:   s.cfg.RefreshReuseInterval,
		AccessExpiresAt: now.Truncate(time.Second).Add(s.cfg.AccessTokenTTL),
	})
	if err != nil {
		return nil, rotateError(err)
	}

	// 7. A retry within the reuse interval (DESIGN.md §5a) gets the successor
	// the first answer carried, sealed anew, so that the family never forks:
	// whichever copy is used first wins.
	if recorded.ID != out.refresh.ID {
		sealed, err := s.cfg.Sealer.Seal(tokens.RefreshPayload{
			ID:        recorded.ID,
			FamilyID:  recorded.FamilyID,
			ClientID:  recorded.ClientID,
			UserID:    recorded.UserID,
			Scopes:    recorded.Scopes,
			ExpiresAt: recorded.ExpiresAt,
		})
		if err != nil {
			return nil, ServerError(fmt.Errorf("sealing the recorded successor: %w", err))
		}
		out.response.RefreshToken = sealed
	}
	return out.response, nil
}

// openRefreshToken unseals the token and checks that it belongs to client and
// has not expired at now. The store checks expiry again inside Rotate; this
// early check spares it the work and gives league's answer.
func (s *Server) openRefreshToken(token string, client *repos.Client, now time.Time) (*tokens.RefreshPayload, *Error) {
	payload, err := s.cfg.Sealer.Open(token)
	if err != nil {
		return nil, withCause(InvalidGrant(hintUndecryptable), err)
	}
	if payload.ClientID != client.ID {
		return nil, InvalidGrant(hintOtherClient)
	}
	if !now.Before(payload.ExpiresAt) {
		return nil, withCause(InvalidGrant(hintExpired), repos.ErrTokenExpired)
	}
	return payload, nil
}

// tokenUser returns the user the token was issued for, nil for a token without
// one. A deleted user's tokens stop working at once, although the store has
// not revoked them.
func (s *Server) tokenUser(ctx context.Context, p *tokens.RefreshPayload) (*repos.User, *Error) {
	if p.UserID == "" {
		return nil, nil
	}
	user, err := s.cfg.Definitions.UserByID(ctx, p.UserID)
	if errors.Is(err, repos.ErrNotFound) {
		return nil, withCause(InvalidGrant(hintRevoked), fmt.Errorf("user of the refresh token: %w", err))
	}
	if err != nil {
		return nil, storeFailure(fmt.Errorf("user of the refresh token: %w", err))
	}
	return user, nil
}

// rotateError maps the store's refusal to the client's answer. The sentinel
// stays in Cause so the log can tell a replay from an expiry.
func rotateError(err error) *Error {
	switch {
	case errors.Is(err, repos.ErrTokenUsed), errors.Is(err, repos.ErrTokenRevoked):
		return withCause(InvalidGrant(hintRevoked), err)
	case errors.Is(err, repos.ErrTokenExpired):
		return withCause(InvalidGrant(hintExpired), err)
	case errors.Is(err, repos.ErrNotFound):
		return withCause(InvalidGrant(hintUnknown), err)
	}
	return storeFailure(fmt.Errorf("rotating refresh token: %w", err))
}

// withCause attaches an internal cause to a client error, for the log.
func withCause(e *Error, cause error) *Error {
	e.Cause = cause
	return e
}
