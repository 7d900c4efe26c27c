package manage

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
)

// testHash is bcrypt at its lowest cost, so that the tests stay quick;
// Caddy's commands hash at caddyauth's default cost.
func testHash(p []byte) ([]byte, error) {
	return bcrypt.GenerateFromPassword(p, bcrypt.MinCost)
}

// fixture is a manager on a fresh repository with its output captured.
type fixture struct {
	*manager
	out, err bytes.Buffer
	loc      Location
}

// backends are the two kinds of repository every management test runs on.
var backends = []struct {
	name string
	loc  func(dir string) Location
}{
	{"sql", func(dir string) Location {
		return Location{Backend: BackendSQL, Driver: "sqlite", DSN: filepath.Join(dir, "oauth2.db")}
	}},
	{"file", func(dir string) Location {
		return Location{Backend: BackendFile, Path: filepath.Join(dir, "oauth2.json"),
			TokenDriver: "sqlite", TokenDSN: filepath.Join(dir, "tokens.db")}
	}},
}

// eachBackend runs test on a fresh fixture of every backend.
func eachBackend(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			test(t, newFixture(t, b.loc(t.TempDir())))
		})
	}
}

func newFixture(t *testing.T, loc Location) *fixture {
	t.Helper()
	s, err := openStore(t.Context(), loc)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	tokens := &tokenState{repo: loc, defs: s}
	t.Cleanup(func() { require.NoError(t, tokens.Close()) })
	f := &fixture{loc: loc}
	f.manager = &manager{store: s, tokens: tokens, stdout: &f.out, stderr: &f.err, hash: testHash}
	return f
}

// reset forgets the output so far.
func (f *fixture) reset() {
	f.out.Reset()
	f.err.Reset()
}

// scopes declares scopes.
func (f *fixture) scopes(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		require.NoError(t, f.addScope(t.Context(), id, ""))
	}
	f.reset()
}

// checkFile checks that a file repository still loads as Caddy loads it.
func (f *fixture) checkFile(t *testing.T) {
	t.Helper()
	if f.loc.Backend == BackendFile {
		_, err := file.Load(f.loc.Path)
		require.NoError(t, err, "the definitions file must still load")
	}
}

// fixedPassword returns a passwordFunc that supplies p.
func fixedPassword(p string) passwordFunc {
	return func() ([]byte, error) { return []byte(p), nil }
}
