package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// The error codes of RFC 6749 §5.2 that the token endpoint answers with.
const (
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidClient        = "invalid_client"
	CodeInvalidGrant         = "invalid_grant"
	CodeUnauthorizedClient   = "unauthorized_client"
	CodeUnsupportedGrantType = "unsupported_grant_type"
	CodeInvalidScope         = "invalid_scope"
	CodeServerError          = "server_error"
	// CodeTemporarilyUnavailable is RFC 6749 §4.1.2.1's code, which RFC 7009
	// §2.2.1 uses for a revocation the server cannot carry out now.
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// HTTP statuses of the errors; spelled out because this package does not
// import net/http.
const (
	statusBadRequest         = 400
	statusUnauthorized       = 401
	statusTooManyRequests    = 429
	statusServerError        = 500
	statusServiceUnavailable = 503
)

// Error is an OAuth error response (RFC 6749 §5.2). Code, Description and Hint
// are sent to the client; Cause is for the log only, because it may describe
// the database or the key material. Nothing in an Error ever contains a secret,
// a password or a token.
type Error struct {
	// Code is the RFC 6749 error code, e.g. invalid_grant.
	Code string
	// Description is league/oauth2-server's wording for the code, so that
	// clients written against league see the same error_description.
	Description string
	// Hint narrows the description down ("Check the `refresh_token`
	// parameter"); it may be empty. It is plain ASCII in the character set
	// RFC 6749 allows for error_description.
	Hint string
	// Status is the HTTP status: 400, 401 for invalid_client, 500 for
	// server_error.
	Status int
	// Cause is the internal error behind a server_error, if any.
	Cause error
	// RetryAfter is how long a client refused with 429 or 503 should wait;
	// the handler sends it as Retry-After in whole seconds.
	RetryAfter time.Duration
	// Reason says, for the log and metrics only, why an authentication
	// failed or a request was throttled (one of the Reason* constants);
	// empty for any other error. The client never sees it: telling an
	// unknown user from a wrong password would help an attacker.
	Reason string
}

// The reasons of failed authentications and throttled requests.
const (
	ReasonUnknownClient = "unknown_client"
	ReasonMissingSecret = "missing_secret"
	ReasonWrongSecret   = "wrong_secret"
	ReasonUnknownUser   = "unknown_user"
	ReasonWrongPassword = "wrong_password"
	// ReasonLocked is a request refused because its client, user or
	// address is locked after failed attempts.
	ReasonLocked = "locked"
	// ReasonBusy is a request refused because every hashing slot was busy.
	ReasonBusy = "busy"
)

// withReason records why an authentication failed.
func withReason(e *Error, reason string) *Error {
	e.Reason = reason
	return e
}

// Error describes the error for logs, Cause included.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Description
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// IsReplay reports whether the error refused a refresh token that had been
// used before, which revoked its whole family: the one refusal an operator
// should hear about, since it means a token was stolen or a client is broken.
func (e *Error) IsReplay() bool { return errors.Is(e.Cause, repos.ErrTokenUsed) }

// Unwrap returns Cause, so errors.Is sees through to a storage error.
func (e *Error) Unwrap() error { return e.Cause }

// InvalidRequest returns the error of a malformed request: a parameter missing, repeated or
// invalid. hint names the parameter, e.g. "Check the `refresh_token` parameter".
func InvalidRequest(hint string) *Error {
	return &Error{
		Code:        CodeInvalidRequest,
		Description: "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
		Hint:        sanitize(hint),
		Status:      statusBadRequest,
	}
}

// InvalidClient returns the error of a failed client authentication. It carries no hint:
// telling an unknown client from a wrong secret would help an attacker.
func InvalidClient() *Error {
	return &Error{
		Code:        CodeInvalidClient,
		Description: "Client authentication failed",
		Status:      statusUnauthorized,
	}
}

// InvalidGrant returns the error of a refresh token that cannot be used; hint says why in
// league's words ("Token has expired").
func InvalidGrant(hint string) *Error {
	return &Error{
		Code:        CodeInvalidGrant,
		Description: "The refresh token is invalid.",
		Hint:        sanitize(hint),
		Status:      statusBadRequest,
	}
}

// InvalidCredentials returns the password grant's invalid_grant. Like league it
// has no hint, so an unknown user and a wrong password look the same.
func InvalidCredentials() *Error {
	return &Error{
		Code:        CodeInvalidGrant,
		Description: "The user credentials were incorrect.",
		Status:      statusBadRequest,
	}
}

// UnauthorizedClient returns the error of an authenticated client using a grant it is not
// allowed.
func UnauthorizedClient() *Error {
	return &Error{
		Code:        CodeUnauthorizedClient,
		Description: "The authenticated client is not authorized to use this authorization grant type.",
		Status:      statusBadRequest,
	}
}

// UnsupportedGrantType returns the error of a grant_type the server does not know or has not
// enabled; the two are not told apart.
func UnsupportedGrantType() *Error {
	return &Error{
		Code:        CodeUnsupportedGrantType,
		Description: "The authorization grant type is not supported by the authorization server.",
		Status:      statusBadRequest,
	}
}

// InvalidScope returns the error of a scope that is malformed, unknown or not allowed; hint
// names it, e.g. "Check the `write` scope".
func InvalidScope(hint string) *Error {
	return &Error{
		Code:        CodeInvalidScope,
		Description: "The requested scope is invalid, unknown, or malformed",
		Hint:        sanitize(hint),
		Status:      statusBadRequest,
	}
}

// NotTokenOwner returns the error of a client that revokes a token issued
// to another client (RFC 7009 §2.1): nothing is revoked.
func NotTokenOwner() *Error {
	return &Error{
		Code:        CodeUnauthorizedClient,
		Description: "The authenticated client is not authorized to revoke this token.",
		Hint:        "The token was issued to another client",
		Status:      statusBadRequest,
	}
}

// TemporarilyUnavailable returns the error of a request the token store
// could not serve now, which may succeed if retried (RFC 7009 §2.2.1). cause
// goes to the log.
func TemporarilyUnavailable(cause error) *Error {
	return &Error{
		Code:        CodeTemporarilyUnavailable,
		Description: "The authorization server is temporarily unable to handle the request.",
		Hint:        "Retry later",
		Status:      statusServiceUnavailable,
		Cause:       cause,
	}
}

// TooManyAttempts returns the 429 of a request that would need a password
// hash while its client, user or address is locked out after failed
// attempts (reason ReasonLocked), or while every hashing slot is busy
// (ReasonBusy), DESIGN.md §6a. The answer says neither which, nor whether
// the credentials were right.
func TooManyAttempts(retryAfter time.Duration, reason string) *Error {
	return &Error{
		Code:        CodeTemporarilyUnavailable,
		Description: "The authorization server is temporarily unable to handle the request.",
		Hint:        "Too many attempts; retry later",
		Status:      statusTooManyRequests,
		RetryAfter:  retryAfter,
		Reason:      reason,
	}
}

// storeFailure is the answer to a repository or token store error: 503
// temporarily_unavailable when the storage could not answer (it is down,
// locked or slower than the request's deadline: a retry may succeed), 500
// server_error for anything else.
func storeFailure(err error) *Error {
	if errors.Is(err, repos.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return TemporarilyUnavailable(err)
	}
	return ServerError(err)
}

// ServerError returns the error of an unexpected failure. cause goes to the log, never to the client.
func ServerError(cause error) *Error {
	return &Error{
		Code:        CodeServerError,
		Description: "The authorization server encountered an unexpected condition which prevented it from fulfilling the request.",
		Status:      statusServerError,
		Cause:       cause,
	}
}

// scopeHint is league's hint for a rejected scope.
func scopeHint(scope string) string {
	return fmt.Sprintf("Check the `%s` scope", scope)
}

// paramHint is league's hint for a missing or invalid parameter.
func paramHint(name string) string {
	return fmt.Sprintf("Check the `%s` parameter", name)
}

// maxHintLen keeps an echoed value from turning a hint into a payload.
const maxHintLen = 200

// sanitize makes s safe for error_description: RFC 6749 §5.2 allows only
// %x20-21 / %x23-5B / %x5D-7E, so every other byte (quotes, backslashes,
// controls, non-ASCII) becomes '?', and long hints are cut.
func sanitize(s string) string {
	if len(s) > maxHintLen {
		s = s[:maxHintLen]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
