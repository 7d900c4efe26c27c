package grants

import (
	"fmt"
	"slices"
	"strings"
)

// The grant_type values this server implements. This file is the one place
// that lists them: the Caddyfile, the definitions file and the caddy oauth2
// commands all check grant names against Supported.
const (
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
)

// supported is every implemented grant, in the order messages list them.
var supported = []string{GrantRefreshToken, GrantPassword, GrantClientCredentials}

// Supported returns every grant_type this server implements.
func Supported() []string { return slices.Clone(supported) }

// Default returns the grants enabled when Config.Grants is empty. The password
// grant is left out because RFC 9700 §2.4 says it MUST NOT be used; it is
// there for migrations from league, when named.
func Default() []string { return []string{GrantRefreshToken, GrantClientCredentials} }

// CheckName returns an error for a grant name this server does not implement,
// listing the ones it does.
func CheckName(name string) error {
	if slices.Contains(supported, name) {
		return nil
	}
	return fmt.Errorf("unknown grant %q (want %s)", name, strings.Join(supported, ", "))
}
