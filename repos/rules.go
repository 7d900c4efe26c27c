package repos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// What a stored client, user or scope may hold. The definitions file, the SQL
// backend's commands and the token endpoint all check against these rules, so
// that nothing can be stored that a request could never name.

// The grant types a client's Grants may list: the grant_type values of the
// token endpoint (RFC 6749). This is the one list of them.
const (
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
)

// grantTypes is every grant type, in the order messages list them.
var grantTypes = []string{GrantRefreshToken, GrantPassword, GrantClientCredentials}

// GrantTypes returns every grant type a client may list.
func GrantTypes() []string { return slices.Clone(grantTypes) }

// IsGrantType reports whether name is a grant type, without the copy
// GrantTypes makes.
func IsGrantType(name string) bool { return slices.Contains(grantTypes, name) }

// CheckGrantType refuses a name that is no grant type, listing those that are.
func CheckGrantType(name string) error {
	if IsGrantType(name) {
		return nil
	}
	return fmt.Errorf("unknown grant %q (want %s)", name, strings.Join(grantTypes, ", "))
}

// CheckIntrospect refuses the introspect permission on a public client: only
// a confidential client may call the introspection endpoint (DESIGN.md §8), so
// on a public one the permission would grant nothing and is a mistake.
func CheckIntrospect(c *Client) error {
	if c.Introspect && !c.Confidential() {
		return errors.New("introspect is for confidential clients: a public client cannot call the introspection endpoint")
	}
	return nil
}

// MaxIDLength bounds client ids, user ids and usernames, in bytes: the MySQL
// token store keeps a token's client and user in VARBINARY(255) columns, and
// a longer id would fail every token write for that client rather than fail
// when it is stored.
const MaxIDLength = 255

// CheckClientID refuses a client id that is empty, too long, or that HTTP
// Basic authentication cannot carry (RFC 6749 §2.3.1 splits on the first ':').
func CheckClientID(id string) error {
	switch {
	case id == "":
		return errors.New("id is empty")
	case strings.Contains(id, ":"):
		return errors.New("id contains ':', which HTTP Basic authentication cannot carry")
	case len(id) > MaxIDLength:
		return fmt.Errorf("id is longer than %d bytes", MaxIDLength)
	}
	return nil
}

// CheckUserID refuses a user id that is empty or too long.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return errors.New("id is empty")
	case len(id) > MaxIDLength:
		return fmt.Errorf("id is longer than %d bytes", MaxIDLength)
	}
	return nil
}

// CheckUsername refuses a username that is empty or too long.
func CheckUsername(name string) error {
	switch {
	case name == "":
		return errors.New("username is empty")
	case len(name) > MaxIDLength:
		return fmt.Errorf("username is longer than %d bytes", MaxIDLength)
	}
	return nil
}

// MaxScopeLength bounds a scope, in bytes. No real scope comes near it; the
// bound keeps a 64 KiB request body from naming a few huge scopes, and a scope
// longer than a request may name could never be granted.
const MaxScopeLength = 128

// IsScopeToken reports whether s is a scope-token of RFC 6749 §3.3 of at most
// MaxScopeLength bytes: one or more printable ASCII characters other than
// space, '"' and '\'. Scope ids must be one, which is also what keeps
// space-separated scope lists unambiguous.
func IsScopeToken(s string) bool {
	if len(s) > MaxScopeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}
