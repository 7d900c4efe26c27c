package file

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// TestEdit_ExampleRoundTrip: the example file is laid out as Marshal writes,
// so reading and saving it changes not a byte.
func TestEdit_ExampleRoundTrip(t *testing.T) {
	orig, err := os.ReadFile("../../example/definitions.json")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "definitions.json")
	require.NoError(t, os.WriteFile(path, orig, 0o600))

	doc, err := ReadDocument(path)
	require.NoError(t, err)
	require.NoError(t, doc.Save(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(orig), string(got))
	_, err = Load(path)
	assert.NoError(t, err)
}

func TestEdit_MarshalLayout(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"empty", Document{}, "{\n  \"scopes\": [],\n  \"clients\": [],\n  \"users\": []\n}\n"},
		{
			"nil and empty lists keep their meaning, no HTML escaping",
			Document{
				Scopes: []repos.Scope{{ID: "read", Description: "Read <all> & more"}, {ID: "write"}},
				Clients: []repos.Client{
					{ID: "web", Name: "Web", SecretHash: bcryptHash, Grants: []string{"refresh_token"}, Scopes: []string{}, Introspect: true},
					{ID: "cli"},
				},
				Users: []repos.User{
					{ID: "u-1", Username: "alice", PasswordHash: bcryptHash, Scopes: []string{"read"}},
					{ID: "u-2", Username: "bob", PasswordHash: bcryptHash, Scopes: []string{}},
				},
			},
			`{
  "scopes": [
    {"id": "read", "description": "Read <all> & more"},
    {"id": "write"}
  ],
  "clients": [
    {
      "id": "web",
      "name": "Web",
      "secret_hash": "` + bcryptHash + `",
      "grants": ["refresh_token"],
      "scopes": [],
      "introspect": true
    },
    {
      "id": "cli"
    }
  ],
  "users": [
    {"id": "u-1", "username": "alice", "password_hash": "` + bcryptHash + `", "scopes": ["read"]},
    {"id": "u-2", "username": "bob", "password_hash": "` + bcryptHash + `", "scopes": []}
  ]
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.doc.Marshal()
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			back, err := Parse(got)
			require.NoError(t, err)
			for _, c := range tt.doc.Clients {
				stored, err := back.Client(t.Context(), c.ID)
				require.NoError(t, err)
				assert.Equal(t, c, *stored)
			}
			for _, u := range tt.doc.Users {
				stored, err := back.UserByID(t.Context(), u.ID)
				require.NoError(t, err)
				assert.Equal(t, u, *stored)
			}
		})
	}
}

func TestEdit_SaveRefusesAnInvalidDocument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "definitions.json")
	require.NoError(t, (&Document{Scopes: []repos.Scope{{ID: "read"}}}).Save(path))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"duplicate scope", Document{Scopes: []repos.Scope{{ID: "read"}, {ID: "read"}}}, "duplicate id"},
		{"undeclared scope", Document{Clients: []repos.Client{{ID: "web", Scopes: []string{"read"}}}}, `scope "read" is not declared`},
		{"bad hash", Document{Users: []repos.User{{ID: "u", Username: "a", PasswordHash: "secret"}}}, "password_hash: not a bcrypt"},
		{"unknown grant", Document{Clients: []repos.Client{{ID: "web", Grants: []string{"implicit"}}}}, `unknown grant "implicit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.doc.Save(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "secret", "no hash or secret in the error")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the file is untouched")
		})
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
}

func TestEdit_SaveKeepsPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := t.TempDir()
	doc := &Document{Scopes: []repos.Scope{{ID: "read"}}}

	fresh := filepath.Join(dir, "new.json")
	require.NoError(t, doc.Save(fresh))
	fi, err := os.Stat(fresh)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "a new file is private")

	shared := filepath.Join(dir, "shared.json")
	require.NoError(t, os.WriteFile(shared, []byte(`{"scopes": []}`), 0o600))
	require.NoError(t, os.Chmod(shared, 0o640)) // past the umask
	require.NoError(t, doc.Save(shared))
	fi, err = os.Stat(shared)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), fi.Mode().Perm(), "the replaced file's mode is kept")
}

func TestEdit_SaveThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "link.json")
	require.NoError(t, os.WriteFile(target, []byte(`{}`), 0o600))
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	require.NoError(t, (&Document{Scopes: []repos.Scope{{ID: "read"}}}).Save(link))

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type(), "the link is kept")
	d, err := Load(target)
	require.NoError(t, err)
	_, err = d.Scope(t.Context(), "read")
	assert.NoError(t, err, "the target was written")
}

func TestEdit_ReadDocument(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadDocument(filepath.Join(dir, "missing.json"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	broken := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte("{\n  \"scopes\": [\n    {\"id\": \"read\",}\n  ]\n}"), 0o600))
	_, err = ReadDocument(broken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3", "errors point into the file, as Load's do")
	assert.NotErrorIs(t, err, fs.ErrNotExist)

	bom := filepath.Join(dir, "bom.json")
	require.NoError(t, os.WriteFile(bom, []byte("\xef\xbb\xbf{\"scopes\": [{\"id\": \"read\"}]}"), 0o600))
	doc, err := ReadDocument(bom)
	require.NoError(t, err)
	assert.Equal(t, []repos.Scope{{ID: "read"}}, doc.Scopes)
}
