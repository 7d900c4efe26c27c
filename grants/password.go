package grants

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// password runs the resource owner password credentials grant (RFC 6749 §4.3).
// RFC 9700 §2.4 forbids it, so it is enabled only when configured; it exists
// so that deployments migrating from league keep working.
func (s *Server) password(ctx context.Context, r *Request, client *repos.Client, now time.Time) (*Response, *Error) {
	// 1. Both credentials are required (§4.3.2).
	if r.Username == "" {
		return nil, InvalidRequest(paramHint("username"))
	}
	if r.Password == "" {
		return nil, InvalidRequest(paramHint("password"))
	}

	// 2. The credentials must be right.
	user, oerr := s.authenticateUser(ctx, r.Username, r.Password, r.ClientIP)
	if oerr != nil {
		return nil, oerr
	}

	// 3. Scopes: the requested ones or the defaults, allowed for both the
	// client and the user.
	scopes, oerr := s.grantScopes(ctx, r.Scope, client, user)
	if oerr != nil {
		return nil, oerr
	}

	// 4. Mint the access token for the user and, if the client may refresh,
	// a refresh token with the same scopes, starting a new family.
	out, oerr := s.issue(r, issuance{
		client:        client,
		userID:        user.ID,
		familyID:      tokens.NewID(),
		scopes:        scopes,
		refresh:       s.mayRefresh(client),
		refreshScopes: scopes,
	}, now)
	if oerr != nil {
		return nil, oerr
	}

	// 5. Record the refresh token, and in it the access token, starting the
	// family a replay would revoke. Without a refresh token nothing is
	// recorded: the access token belongs to no family, so nothing could ever
	// revoke it, and a durable write per login would serve nothing. Its
	// lifetime, the access_token_ttl, is what bounds it, as for
	// client_credentials.
	if out.refresh != nil {
		if err := s.cfg.Tokens.Issue(ctx, *out.refresh); err != nil {
			return nil, storeFailure(fmt.Errorf("recording tokens: %w", err))
		}
	}
	return out.response, nil
}
