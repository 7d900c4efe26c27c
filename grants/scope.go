package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// maxScopes bounds the scope parameter. No real client asks for more; the
// bound keeps a 64 KiB body from turning into thousands of scope lookups.
// repos.IsScopeToken bounds each scope's length.
const maxScopes = 64

// parseScope splits the scope parameter into scope tokens (RFC 6749 §3.3):
// space-delimited, each 1*( %x21 / %x23-5B / %x5D-7E ). Repeated spaces are
// tolerated and duplicates dropped, keeping first-seen order. An empty or
// all-space parameter yields no scopes, which callers treat as omitted (league
// trims parameters, so it does the same).
func parseScope(raw string) ([]string, *Error) {
	var scopes []string
	for tok := range strings.SplitSeq(raw, " ") {
		switch {
		case tok == "":
			continue
		case !repos.IsScopeToken(tok):
			// The token is not echoed: it may be anything.
			return nil, InvalidScope(paramHint("scope"))
		case slices.Contains(scopes, tok):
			continue
		case len(scopes) == maxScopes:
			return nil, InvalidScope(paramHint("scope"))
		}
		scopes = append(scopes, tok)
	}
	return scopes, nil
}

// CheckScopes validates a configured scope list, one scope per element, by
// the rules a requested scope must meet: a configured default that no request
// could name would be refused on every use.
func CheckScopes(scopes []string) error {
	for _, sc := range scopes {
		if !repos.IsScopeToken(sc) {
			return fmt.Errorf("%q is not a valid scope (RFC 6749 §3.3)", sc)
		}
	}
	if len(scopes) > maxScopes {
		return fmt.Errorf("more than %d scopes", maxScopes)
	}
	return nil
}

// grantScopes decides the scopes of a new grant: the requested ones or, when
// none are named, the client's default, else the server's, else none. Defaults
// are checked like requested scopes, so a stale default fails loudly instead
// of granting something no longer allowed.
func (s *Server) grantScopes(ctx context.Context, raw string, client *repos.Client, user *repos.User) ([]string, *Error) {
	scopes, err := parseScope(raw)
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		def := s.cfg.DefaultScope
		if client.DefaultScope != nil {
			def = client.DefaultScope
		}
		if scopes, err = parseScope(strings.Join(def, " ")); err != nil {
			return nil, err
		}
	}
	if err := s.checkScopes(ctx, scopes, client, user); err != nil {
		return nil, err
	}
	return scopes, nil
}

// refreshScopes decides the scopes of the access token a refresh issues: the
// requested ones, which must be among those granted (RFC 6749 §6), or when
// none are named all of them. They are checked again because a scope, or a
// client's or user's right to it, may have been withdrawn since the grant.
func (s *Server) refreshScopes(ctx context.Context, raw string, granted []string, client *repos.Client, user *repos.User) ([]string, *Error) {
	scopes, err := parseScope(raw)
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		scopes = granted
	}
	for _, sc := range scopes {
		if !slices.Contains(granted, sc) {
			return nil, InvalidScope(scopeHint(sc))
		}
	}
	if err := s.checkScopes(ctx, scopes, client, user); err != nil {
		return nil, err
	}
	return scopes, nil
}

// checkScopes requires every scope to be allowed for the client and the user
// (nil: no user) and to exist. All failures look alike to the client.
func (s *Server) checkScopes(ctx context.Context, scopes []string, client *repos.Client, user *repos.User) *Error {
	for _, sc := range scopes {
		if !allows(client.Scopes, sc) || user != nil && !allows(user.Scopes, sc) {
			return InvalidScope(scopeHint(sc))
		}
		_, err := s.cfg.Definitions.Scope(ctx, sc)
		if errors.Is(err, repos.ErrNotFound) {
			return InvalidScope(scopeHint(sc))
		}
		if err != nil {
			return storeFailure(fmt.Errorf("looking up a scope: %w", err))
		}
	}
	return nil
}
