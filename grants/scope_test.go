package grants_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// TestScope_Parsing runs the scope parameter through client_credentials as
// web, which may have every scope.
func TestScope_Parsing(t *testing.T) {
	e := newEnv(t)
	many := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = "s" + strings.Repeat("x", i)
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		name      string
		scope     string
		wantScope string // when wantHint is ""
		wantCode  string
		wantHint  string
	}{
		{"one", "read", "read", "", ""},
		{"order kept", "write read", "write read", "", ""},
		{"repeated spaces tolerated", "  read   write ", "read write", "", ""},
		{"duplicates dropped, first seen kept", "write read write read", "write read", "", ""},
		{"all spaces count as omitted", "   ", "profile", "", ""},
		{"tab is not a delimiter", "read\twrite", "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"double quote", `re"ad`, "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"backslash", `re\ad`, "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"non-ASCII byte", "lectüre", "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"control", "read\x00", "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"128 bytes is fine, but unknown", strings.Repeat("a", 128), "", grants.CodeInvalidScope, "Check the `" + strings.Repeat("a", 128) + "` scope"},
		{"129 bytes", strings.Repeat("a", 129), "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"64 distinct scopes pass the parser", many(64), "", grants.CodeInvalidScope, "Check the `s` scope"},
		{"65 distinct scopes", many(65), "", grants.CodeInvalidScope, "Check the `scope` parameter"},
		{"65 with duplicates are 1", strings.Repeat("read ", 65), "read", "", ""},
		{"unknown", "read nope", "", grants.CodeInvalidScope, "Check the `nope` scope"},
		{"scope ids are case-sensitive", "Read", "", grants.CodeInvalidScope, "Check the `Read` scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, oerr := e.token(t, grants.Request{
				GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: webSecret, Scope: tt.scope,
			})
			if tt.wantCode != "" {
				wantError(t, oerr, tt.wantCode, tt.wantHint)
				return
			}
			assert.Nil(t, oerr)
			assert.Equal(t, tt.wantScope, resp.Scope)
			assert.Equal(t, strings.Fields(tt.wantScope), e.claims(t, resp.AccessToken).Scopes)
		})
	}
}

func TestScope_DefaultsAndRestrictions(t *testing.T) {
	tests := []struct {
		name      string
		noDefault bool // server without default scope
		req       grants.Request
		wantScope string
		wantHint  string // invalid_scope when set
	}{
		{"server default when none requested",
			false, ccRequest("web", webSecret, ""), "profile", ""},
		{"no default anywhere: no scope",
			true, ccRequest("web", webSecret, ""), "", ""},
		{"client default beats server default",
			false, ccRequest("svc", svcSecret, ""), "read", ""},
		{"client's empty default means none",
			false, ccRequest("emptydefault", webSecret, ""), "", ""},
		{"stale client default is checked like a request",
			false, ccRequest("staledefault", webSecret, ""), "", "Check the `gone` scope"},
		{"server default not allowed for the client",
			false, ccRequest("limited", limitedSecret, ""), "", "Check the `profile` scope"},
		{"request replaces the default",
			false, ccRequest("limited", limitedSecret, "read"), "read", ""},
		{"scope not allowed for the client",
			false, ccRequest("limited", limitedSecret, "read write"), "", "Check the `write` scope"},
		{"scope not allowed for the user",
			false, passwordRequest("web", webSecret, "bob", bobPassword, "read write"), "", "Check the `write` scope"},
		{"user with every scope",
			false, passwordRequest("web", webSecret, "alice", alicePassword, "admin"), "admin", ""},
		{"default must suit the user too",
			false, passwordRequest("web", webSecret, "bob", bobPassword, ""), "", "Check the `profile` scope"},
		{"both client and user restrict",
			false, passwordRequest("spa", "", "alice", alicePassword, "admin"), "", "Check the `admin` scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *grants.Config) {
				if tt.noDefault {
					c.DefaultScope = nil
				}
			})
			resp, oerr := e.token(t, tt.req)
			if tt.wantHint != "" {
				wantError(t, oerr, grants.CodeInvalidScope, tt.wantHint)
				return
			}
			assert.Nil(t, oerr)
			assert.Equal(t, tt.wantScope, resp.Scope)
			assert.Equal(t, tt.wantScope, strings.Join(e.claims(t, resp.AccessToken).Scopes, " "))
		})
	}
}

func ccRequest(client, secret, scope string) grants.Request {
	return grants.Request{GrantType: repos.GrantClientCredentials, ClientID: client, ClientSecret: secret, Scope: scope}
}

func passwordRequest(client, secret, username, password, scope string) grants.Request {
	return grants.Request{GrantType: repos.GrantPassword, ClientID: client, ClientSecret: secret,
		Username: username, Password: password, Scope: scope}
}
