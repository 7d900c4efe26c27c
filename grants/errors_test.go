package grants_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
)

func TestErrors_LeagueDescriptionsAndStatuses(t *testing.T) {
	tests := []struct {
		err         *grants.Error
		code        string
		description string
		status      int
	}{
		{grants.InvalidRequest("h"), "invalid_request",
			"The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.", 400},
		{grants.InvalidClient(), "invalid_client", "Client authentication failed", 401},
		{grants.InvalidGrant("h"), "invalid_grant", "The refresh token is invalid.", 400},
		{grants.InvalidCredentials(), "invalid_grant", "The user credentials were incorrect.", 400},
		{grants.UnauthorizedClient(), "unauthorized_client",
			"The authenticated client is not authorized to use this authorization grant type.", 400},
		{grants.UnsupportedGrantType(), "unsupported_grant_type",
			"The authorization grant type is not supported by the authorization server.", 400},
		{grants.InvalidScope("h"), "invalid_scope", "The requested scope is invalid, unknown, or malformed", 400},
		{grants.ServerError(nil), "server_error",
			"The authorization server encountered an unexpected condition which prevented it from fulfilling the request.", 500},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			assert.Equal(t, tt.code, tt.err.Code)
			assert.Equal(t, tt.description, tt.err.Description)
			assert.Equal(t, tt.status, tt.err.Status)
		})
	}
}

func TestError_ErrorAndUnwrap(t *testing.T) {
	cause := errors.New("disk full")
	e := grants.ServerError(cause)
	assert.ErrorIs(t, e, cause)
	assert.Contains(t, e.Error(), "server_error")
	assert.Contains(t, e.Error(), "disk full")

	h := grants.InvalidGrant("Token has expired")
	assert.Equal(t, "invalid_grant: The refresh token is invalid. (Token has expired)", h.Error())
	assert.NoError(t, errors.Unwrap(h))
}

func TestError_HintsStayInRFC6749CharacterSet(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Check the `read` scope", "Check the `read` scope"},
		{"quote and backslash", `a"b\c`, "a?b?c"},
		{"controls", "a\r\nb\x00\x7f", "a??b??"},
		{"non-ASCII", "é", "??"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range []*grants.Error{grants.InvalidRequest(tt.in), grants.InvalidGrant(tt.in), grants.InvalidScope(tt.in)} {
				assert.Equal(t, tt.want, e.Hint)
			}
		})
	}
	long := grants.InvalidScope(string(make([]byte, 10_000)))
	assert.LessOrEqual(t, len(long.Hint), 200)
}
