package caddyoauth2

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// basicRealm is the WWW-Authenticate challenge sent with invalid_client to a
// client that tried HTTP Basic (RFC 6749 section 5.2), league's realm.
const basicRealm = `Basic realm="OAuth"`

// ServeHTTP answers a token request. It never calls next: the matcher decides
// which requests reach the token endpoint, and every one of them gets an OAuth
// answer.
func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	req, perr := parseTokenRequest(w, r)
	if perr != nil {
		h.writeError(w, r, perr.err, perr.basic, requestInfo{endpoint: endpointToken})
		return nil
	}
	if h.server.NeedsOrigin() {
		req.Issuer = requestOrigin(r)
	}
	req.ClientIP = clientIP(r)
	accessLog := logFields(r)
	if req.ClientID != "" {
		accessLog.Add(zap.String("client_id", loggedID(req.ClientID)))
	}
	resp, err := h.server.Token(r.Context(), req)
	if err != nil {
		var oerr *grants.Error
		if !errors.As(err, &oerr) {
			oerr = grants.ServerError(err)
		}
		h.writeError(w, r, oerr, req.BasicAuth, requestInfo{endpoint: endpointToken, grantType: req.GrantType,
			clientID: req.ClientID, username: req.Username})
		return nil
	}
	h.metrics.issuedFor(req.GrantType).Inc()
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok && resp.UserID != "" {
		// The access log's user_id field, as caddyauth fills it.
		repl.Set("http.auth.user.id", resp.UserID)
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType:    resp.TokenType,
		ExpiresIn:    resp.ExpiresIn,
		AccessToken:  resp.AccessToken,
		RefreshToken: resp.RefreshToken,
		Scope:        resp.Scope,
	})
	return nil
}

// tokenResponse is the success body of RFC 6749 section 5.1. scope is always
// present so clients need not remember what they asked for.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// errorResponse is the error body of RFC 6749 section 5.2 plus league's hint.
type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Hint             string `json:"hint,omitempty"`
}

// retryAfter is the Retry-After of a 503 that names none: the token store
// is expected back within seconds (a restart, a failover), and a client that
// retries sooner only adds to the load.
const retryAfter = "5"

// retryAfterSeconds is d in whole seconds, rounded up, or retryAfter for
// zero.
func retryAfterSeconds(d time.Duration) string {
	if d <= 0 {
		return retryAfter
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// writeError answers with an OAuth error, and tells the operator what the
// answer does not say: it counts the refusal, logs every failed
// authentication with its reason (for fail2ban), and logs server errors, an
// unavailable store and replays. The rest are the client's mistakes, which
// the access log records. Log fields are ids, never secrets or tokens.
func (h *TokenHandler) writeError(w http.ResponseWriter, r *http.Request, e *grants.Error, basic bool, info requestInfo) {
	h.observeRefusal(r, e, info)
	switch e.Status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		w.Header().Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	if e.Code == grants.CodeInvalidClient && basic {
		w.Header().Set("WWW-Authenticate", basicRealm)
	}
	writeJSON(w, e.Status, errorResponse{Error: e.Code, ErrorDescription: e.Description, Hint: e.Hint})
}

// writeJSON writes a JSON body that no cache may keep: token responses carry
// credentials (RFC 6749 section 5.1), and errors get the same headers so that no
// proxy caches an answer about a credential either.
func writeJSON(w http.ResponseWriter, status int, body any) {
	data, err := json.Marshal(body)
	if err != nil {
		// Only plain strings and numbers are marshalled; this cannot happen.
		status, data = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"encoding failed"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// loggedID is an id from a request as it is logged: cut at the length of
// the longest id a repository holds, since a longer one names no client and
// would only let a request make every log line it appears in 64 KiB long.
func loggedID(id string) string {
	if len(id) > repos.MaxIDLength {
		return id[:repos.MaxIDLength] + "..."
	}
	return id
}

// clientIP is the IP address Caddy computed for the request's client, or
// the connection's address when the request did not come through Caddy's
// server (a unit test calling ServeHTTP).
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// logFields returns the extra fields of the request's access log entry. Caddy
// puts them in every request's context; a request that did not come through
// Caddy's server gets a throwaway set.
func logFields(r *http.Request) *caddyhttp.ExtraLogFields {
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		return extra
	}
	return new(caddyhttp.ExtraLogFields)
}

// requestOrigin is scheme://host[:port] of the request, the default issuer.
func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
