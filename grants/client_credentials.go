package grants

import (
	"context"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// clientCredentials runs the client credentials grant (RFC 6749 §4.4): a
// client acting on its own behalf gets an access token whose subject is
// itself, and no refresh token (§4.4.3), since it can always authenticate
// again.
func (s *Server) clientCredentials(ctx context.Context, r *Request, client *repos.Client, now time.Time) (*Response, *Error) {
	// 1. The grant is for confidential clients only (§4.4): a public client
	// has proven nothing about itself.
	if !client.Confidential() {
		return nil, InvalidClient()
	}

	// 2. Scopes: the requested ones or the defaults, allowed for the client.
	scopes, oerr := s.grantScopes(ctx, r.Scope, client, nil)
	if oerr != nil {
		return nil, oerr
	}

	// 3. Mint the access token. It is not recorded: with no refresh token it
	// belongs to no family a replay could revoke, so a row would cost a
	// durable write on every request and serve nothing. Its lifetime, the
	// access_token_ttl, is what bounds it.
	out, oerr := s.issue(r, issuance{client: client, scopes: scopes}, now)
	if oerr != nil {
		return nil, oerr
	}
	return out.response, nil
}
