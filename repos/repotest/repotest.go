// Package repotest is the conformance suite of the storage contract: every
// backend of package repos runs Run unchanged, so they all agree on the edge
// cases the token endpoint relies on (nil versus empty lists, replay
// detection, atomic rotation, one winner among concurrent rotations, the
// reuse interval, revocation).
package repotest

import (
	"testing"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// NewBackend returns a fresh, empty backend preloaded with fixture. The
// Definitions and the TokenStore may be one value or two (a definitions file
// paired with a SQL token store). Cleanup goes through t.Cleanup.
type NewBackend func(t *testing.T, fixture Fixture) (repos.Definitions, repos.TokenStore)

// Run runs the conformance suite, one fresh backend per subtest.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("Definitions", func(t *testing.T) { runDefinitions(t, newBackend) })
	t.Run("Catalog", func(t *testing.T) { runCatalog(t, newBackend) })
	t.Run("Tokens", func(t *testing.T) { runTokens(t, newBackend) })
	t.Run("ReuseInterval", func(t *testing.T) { runReuseInterval(t, newBackend) })
	t.Run("Revocation", func(t *testing.T) { runRevocation(t, newBackend) })
}
