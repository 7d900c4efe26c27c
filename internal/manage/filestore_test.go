package manage

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
)

func TestManageFile_MissingFileIsCreatedByTheFirstChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oauth2.json")
	f := newFixture(t, Location{Backend: BackendFile, Path: path})

	err := f.listClients(t.Context())
	require.Error(t, err, "listing a file that is not there is likely a wrong path")
	assert.Contains(t, err.Error(), "does not exist")
	assert.ErrorIs(t, f.removeClient(t.Context(), "web", true), repos.ErrNotFound)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "a failed change creates nothing")

	require.NoError(t, f.addScope(t.Context(), "read", "Read access"))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	}
	require.NoError(t, f.listScopes(t.Context()))
	f.checkFile(t)
}

func TestManageFile_BrokenFileIsNotTouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oauth2.json")
	broken := []byte(`{"scopes": [{"id": "read"}], "clients": [{"id": "web", "scopes": ["nope"]}]}`)
	require.NoError(t, os.WriteFile(path, broken, 0o600))

	_, err := openStore(t.Context(), Location{Backend: BackendFile, Path: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `scope "nope" is not declared`, "the loader's own message")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, broken, got)
}

// TestManageFile_KeepsOrderAndOtherEntries: editing one entry rewrites the
// file with every other entry as it was, in its place.
func TestManageFile_KeepsOrderAndOtherEntries(t *testing.T) {
	orig, err := os.ReadFile("../../example/definitions.json")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "definitions.json")
	require.NoError(t, os.WriteFile(path, orig, 0o640))
	before, err := file.ReadDocument(path)
	require.NoError(t, err)

	f := newFixture(t, Location{Backend: BackendFile, Path: path})
	require.NoError(t, f.rotateClientSecret(t.Context(), "service", true))

	after, err := file.ReadDocument(path)
	require.NoError(t, err)
	assert.Equal(t, before.Scopes, after.Scopes)
	assert.Equal(t, before.Users, after.Users)
	require.Len(t, after.Clients, len(before.Clients))
	for i := range before.Clients {
		if before.Clients[i].ID == "service" {
			assert.NotEqual(t, before.Clients[i].SecretHash, after.Clients[i].SecretHash)
			after.Clients[i].SecretHash = before.Clients[i].SecretHash
		}
		assert.Equal(t, before.Clients[i], after.Clients[i], "client %d", i)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o640), fi.Mode().Perm(), "the file's mode is kept")
	}
}
