package caddyoauth2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The endpoints, as metrics label them and answers name them.
const (
	endpointToken         = "token"
	endpointRevocation    = "revocation"
	endpointIntrospection = "introspection"
	endpointMetadata      = "metadata"
)

// authFailureMessage is the message of the log line of every failed
// authentication: the README's fail2ban filter matches it.
const authFailureMessage = "oauth2 authentication failed"

// requestInfo describes a request for the log and the metrics.
type requestInfo struct {
	endpoint  string
	grantType string // token endpoint only
	clientID  string
	username  string // password grant only
}

// fields are the request's log fields: remote_ip first, the client IP as
// Caddy determined it, which honours the server's trusted_proxies, so that
// behind a load balancer the log (and a fail2ban rule reading it) names the
// client, not the balancer. A username is logged as a hash: it is half of a
// credential, and people type their password into it.
func (info requestInfo) fields(r *http.Request) []zap.Field {
	fields := []zap.Field{zap.String("remote_ip", clientIP(r)), zap.String("endpoint", info.endpoint)}
	if info.grantType != "" {
		fields = append(fields, zap.String("grant_type", loggedID(info.grantType)))
	}
	if info.clientID != "" {
		fields = append(fields, zap.String("client_id", loggedID(info.clientID)))
	}
	if info.username != "" {
		fields = append(fields, zap.String("username_hash", usernameHash(info.username)))
	}
	return fields
}

// usernameHash names a username in the log without writing it: the first 8
// bytes of its SHA-256, enough to see one name tried again and again.
func usernameHash(username string) string {
	sum := sha256.Sum256([]byte(username))
	return hex.EncodeToString(sum[:8])
}

// grantLabel is a grant type as a metric label: only the grants that exist,
// so that a request cannot add a label value.
func grantLabel(grantType string) string {
	if repos.IsGrantType(grantType) {
		return grantType
	}
	return "other"
}

// observeRefusal counts a refused request and logs what an operator must
// hear of.
func (h *TokenHandler) observeRefusal(r *http.Request, e *grants.Error, info requestInfo) {
	grant := ""
	if info.endpoint == endpointToken {
		grant = grantLabel(info.grantType)
	}
	h.metrics.refused.WithLabelValues(info.endpoint, grant, e.Code).Inc()
	if e.Status == http.StatusTooManyRequests {
		h.metrics.throttled.WithLabelValues(e.Reason).Inc()
	}
	switch {
	case e.Reason != "":
		h.logger.Info(authFailureMessage, append(info.fields(r), zap.String("reason", e.Reason))...)
	case errors.Is(e.Cause, context.Canceled):
		// The client went away: nothing the operator can do.
		h.logger.Debug("oauth2 request abandoned by the client", info.fields(r)...)
	case e.Code == grants.CodeServerError || e.Code == grants.CodeTemporarilyUnavailable:
		h.errorLog.Error("oauth2 request failed", append(info.fields(r), zap.String("error", e.Code), zap.Error(e.Cause))...)
	case e.IsReplay():
		h.metrics.replays.Inc()
		h.logger.Warn("refresh token replayed: revoked every token of its grant", info.fields(r)...)
		h.emit("oauth2_replay_detected", map[string]any{"client_id": loggedID(info.clientID), "remote_ip": clientIP(r)})
	}
}

// lockedOut reports a failure that locked its account at an address, or
// the address: a warning in the log and a Caddy event, so that an
// `events { on oauth2_lockout ... }` handler can act on it.
func (h *TokenHandler) lockedOut(l grants.Lockout) {
	data := map[string]any{"remote_ip": l.ClientIP}
	fields := []zap.Field{zap.String("remote_ip", l.ClientIP)}
	switch {
	case l.ID == "":
		data["scope"] = "ip"
	case l.User:
		data["scope"], data["username_hash"] = "user", usernameHash(l.ID)
	default:
		data["scope"], data["client_id"] = "client", loggedID(l.ID)
	}
	for k, v := range data {
		if k != "remote_ip" {
			fields = append(fields, zap.Any(k, v))
		}
	}
	h.logger.Warn("oauth2 lockout after failed authentications", fields...)
	h.emit("oauth2_lockout", data)
}

// emit sends a Caddy event, when an events app runs.
func (h *TokenHandler) emit(name string, data map[string]any) {
	if h.events != nil {
		h.events.Emit(h.ctx, name, data)
	}
}

// sampledLog rate-limits error lines: during a database outage every
// request fails, and a line each would bury the one that says why.
type sampledLog struct {
	logger *zap.Logger
	mu     sync.Mutex
	window time.Time
	logged int
	// suppressed counts the lines left out in the window, reported when
	// the next one opens.
	suppressed int
}

// Error lines: at most sampledBurst per sampledWindow.
const (
	sampledBurst  = 10
	sampledWindow = 10 * time.Second
)

func newSampledLog(logger *zap.Logger) *sampledLog { return &sampledLog{logger: logger} }

// Error logs msg unless sampledBurst lines were logged in this window.
func (s *sampledLog) Error(msg string, fields ...zap.Field) {
	now := time.Now()
	s.mu.Lock()
	if now.Sub(s.window) >= sampledWindow {
		if s.suppressed > 0 {
			s.logger.Error("oauth2 error lines left out", zap.Int("count", s.suppressed), zap.Duration("within", sampledWindow))
		}
		s.window, s.logged, s.suppressed = now, 0, 0
	}
	ok := s.logged < sampledBurst
	if ok {
		s.logged++
	} else {
		s.suppressed++
	}
	s.mu.Unlock()
	if ok {
		s.logger.Error(msg, fields...)
	}
}
