package caddyoauth2

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// serveRevoke answers the revocation endpoint (RFC 7009): an empty JSON
// object once the token is revoked, or was nothing to revoke.
func (h *ServerHandler) serveRevoke(w http.ResponseWriter, r *http.Request) {
	req, ok := h.parseTokenQuery(w, r, endpointRevocation)
	if !ok {
		return
	}
	if err := h.server.Revoke(r.Context(), req); err != nil {
		h.writeTokenQueryError(w, r, endpointRevocation, req, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// introspectionResponse is the body of RFC 7662 §2.2. An inactive token's
// is {"active":false} and nothing more.
type introspectionResponse struct {
	Active bool `json:"active"`
	// Scope is present, possibly "", in every active answer: no scope is
	// an answer too.
	Scope     *string         `json:"scope,omitempty"`
	ClientID  string          `json:"client_id,omitempty"`
	Username  string          `json:"username,omitempty"`
	TokenType string          `json:"token_type,omitempty"`
	ExpiresAt int64           `json:"exp,omitempty"`
	IssuedAt  int64           `json:"iat,omitempty"`
	NotBefore int64           `json:"nbf,omitempty"`
	Subject   string          `json:"sub,omitempty"`
	Audience  tokens.Audience `json:"aud,omitempty"`
	Issuer    string          `json:"iss,omitempty"`
	ID        string          `json:"jti,omitempty"`
}

// serveIntrospect answers the introspection endpoint (RFC 7662).
func (h *ServerHandler) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	req, ok := h.parseTokenQuery(w, r, endpointIntrospection)
	if !ok {
		return
	}
	in, err := h.server.Introspect(r.Context(), req)
	if err != nil {
		h.writeTokenQueryError(w, r, endpointIntrospection, req, err)
		return
	}
	if !in.Active {
		writeJSON(w, http.StatusOK, introspectionResponse{})
		return
	}
	writeJSON(w, http.StatusOK, introspectionResponse{
		Active:    true,
		Scope:     &in.Scope,
		ClientID:  in.ClientID,
		Username:  in.Username,
		TokenType: in.TokenType,
		ExpiresAt: in.ExpiresAt,
		IssuedAt:  in.IssuedAt,
		NotBefore: in.NotBefore,
		Subject:   in.Subject,
		Audience:  in.Audience,
		Issuer:    in.Issuer,
		ID:        in.ID,
	})
}

// parseTokenQuery parses a revocation or introspection request, answering
// a malformed one itself.
func (h *ServerHandler) parseTokenQuery(w http.ResponseWriter, r *http.Request, endpoint string) (*grants.TokenRequest, bool) {
	req, perr := parseTokenQuery(w, r, endpoint)
	if perr != nil {
		h.writeError(w, r, perr.err, perr.basic, requestInfo{endpoint: endpoint})
		return nil, false
	}
	if h.server.NeedsOrigin() {
		req.Issuer = requestOrigin(r)
	}
	req.ClientIP = clientIP(r)
	if req.ClientID != "" {
		logFields(r).Add(zap.String("client_id", loggedID(req.ClientID)))
	}
	return req, true
}

// writeTokenQueryError answers a refused revocation or introspection.
func (h *ServerHandler) writeTokenQueryError(w http.ResponseWriter, r *http.Request, endpoint string, req *grants.TokenRequest, err error) {
	var oerr *grants.Error
	if !errors.As(err, &oerr) {
		oerr = grants.ServerError(err)
	}
	h.writeError(w, r, oerr, req.BasicAuth, requestInfo{endpoint: endpoint, clientID: req.ClientID})
}
