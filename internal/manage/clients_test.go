package manage

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestManageClient_AddConfidentialPrintsTheSecretOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read", "write")
		spec := ClientSpec{
			ID: "web", Name: "Web app",
			Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}, DefaultScope: []string{"read"},
		}
		require.NoError(t, f.AddClient(t.Context(), spec))

		secret := strings.TrimSuffix(f.out.String(), "\n")
		assert.Equal(t, secret+"\n", f.out.String(), "the standard output is the secret alone")
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		require.NoError(t, err, "base64url without padding")
		assert.Len(t, raw, 32)
		assert.NotContains(t, f.err.String(), secret)
		assert.Contains(t, f.err.String(), "shown only this once")

		stored, err := f.Store.Client(t.Context(), "web")
		require.NoError(t, err)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(stored.SecretHash), []byte(secret)), "the stored hash verifies the printed secret")
		stored.SecretHash = ""
		assert.Equal(t, &repos.Client{ID: "web", Name: "Web app", Grants: spec.Grants, Scopes: spec.Scopes, DefaultScope: spec.DefaultScope}, stored)
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.ShowClient(t.Context(), "web"))
		require.NoError(t, f.ListClients(t.Context()))
		assert.NotContains(t, f.out.String(), secret, "the secret is never printed again")
		assert.NotContains(t, f.out.String(), "$2a$", "nor its hash")
	})
}

func TestManageClient_SecretsDiffer(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "a"}))
	require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "b"}))
	lines := strings.Fields(f.out.String())
	require.Len(t, lines, 2)
	assert.NotEqual(t, lines[0], lines[1])
}

func TestManageClient_AddPublic(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "cli", Public: true, Grants: []string{"password"}}))
		assert.Empty(t, f.out.String(), "no secret")
		assert.Contains(t, f.err.String(), `Added public client "cli"`)
		c, err := f.Store.Client(t.Context(), "cli")
		require.NoError(t, err)
		assert.False(t, c.Confidential())
		f.checkFile(t)
	})
}

func TestManageClient_ListsKeepNilAndEmptyApart(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "open", Public: true}))
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "closed", Public: true, Grants: []string{}, Scopes: []string{}, DefaultScope: []string{}}))

		open, err := f.Store.Client(t.Context(), "open")
		require.NoError(t, err)
		assert.Nil(t, open.Grants)
		assert.Nil(t, open.Scopes)
		assert.Nil(t, open.DefaultScope)
		closed, err := f.Store.Client(t.Context(), "closed")
		require.NoError(t, err)
		assert.Equal(t, []string{}, closed.Grants)
		assert.Equal(t, []string{}, closed.Scopes)
		assert.Equal(t, []string{}, closed.DefaultScope)

		f.reset()
		require.NoError(t, f.ListClients(t.Context()))
		assert.Equal(t, strings.Join([]string{
			"ID      TYPE    NAME  GRANTS         SCOPES  DEFAULT SCOPE",
			"closed  public        (none)         (none)  (none)",
			"open    public        (all enabled)  (all)   (directive's)",
			"",
		}, "\n"), f.out.String())
	})
}

func TestManageClient_AddRefused(t *testing.T) {
	tests := []struct {
		name string
		spec ClientSpec
		want string
	}{
		{"existing id", ClientSpec{ID: "taken"}, `client "taken" already exists`},
		{"empty id", ClientSpec{}, "client id is empty"},
		{"colon in id", ClientSpec{ID: "a:b"}, "contains ':'"},
		{"control character in id", ClientSpec{ID: "a\nb"}, "control characters"},
		{"unknown grant", ClientSpec{ID: "c", Grants: []string{"implicit"}}, `unknown grant "implicit"`},
		{"grant twice", ClientSpec{ID: "c", Grants: []string{"password", "password"}}, `"password" is named twice`},
		{"public client_credentials", ClientSpec{ID: "c", Public: true, Grants: []string{"client_credentials"}}, "public client cannot use client_credentials"},
		{"unknown scope", ClientSpec{ID: "c", Scopes: []string{"read", "nope", "gone"}}, `--scopes: unknown scope "nope", "gone"; declare it first`},
		{"malformed scope", ClientSpec{ID: "c", Scopes: []string{`a"b`}}, "printable ASCII"},
		{"scope twice", ClientSpec{ID: "c", Scopes: []string{"read", "read"}}, `"read" is named twice`},
		{"unknown default scope", ClientSpec{ID: "c", DefaultScope: []string{"nope"}}, `--default-scope: unknown scope "nope"`},
		{"default outside scopes", ClientSpec{ID: "c", Scopes: []string{"read"}, DefaultScope: []string{"write"}}, `"write" is not among the client's --scopes`},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read", "write")
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "taken", Public: true}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f.reset()
				err := f.AddClient(t.Context(), tt.spec)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
				assert.Empty(t, f.out.String(), "no secret is printed for a refused client")
			})
		}
		clients, err := f.Store.ListClients(t.Context())
		require.NoError(t, err)
		require.Len(t, clients, 1, "nothing was stored")
		assert.False(t, clients[0].Confidential(), "the existing client was not replaced")
		f.checkFile(t)
	})
}

func TestManageClient_RotateSecret(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "web", Name: "Web", Grants: []string{"refresh_token"}}))
		old := strings.TrimSpace(f.out.String())
		before, err := f.Store.Client(t.Context(), "web")
		require.NoError(t, err)

		f.reset()
		require.NoError(t, f.RotateClientSecret(t.Context(), "web"))
		secret := strings.TrimSpace(f.out.String())
		assert.NotEqual(t, old, secret)
		assert.Len(t, secret, 43)
		after, err := f.Store.Client(t.Context(), "web")
		require.NoError(t, err)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(after.SecretHash), []byte(secret)))
		assert.Error(t, bcrypt.CompareHashAndPassword([]byte(after.SecretHash), []byte(old)), "the old secret no longer verifies")
		after.SecretHash, before.SecretHash = "", ""
		assert.Equal(t, before, after, "only the secret changed")
		f.checkFile(t)
	})
}

func TestManageClient_RotateSecretRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "cli", Public: true}))
		err := f.RotateClientSecret(t.Context(), "cli")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "public")

		err = f.RotateClientSecret(t.Context(), "nope")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no client "nope"`)
		assert.Empty(t, f.out.String())
	})
}

func TestManageClient_Show(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "web", Name: "Web app", Scopes: []string{"read"}}))
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "cli", Public: true, Grants: []string{}}))

		tests := []struct {
			id   string
			want string
		}{
			{"web", strings.Join([]string{
				"id:             web",
				"name:           Web app",
				"type:           confidential (authenticates with a secret)",
				"grants:         (all the directive enables)",
				"scopes:         read",
				"default scope:  (the directive's default_scope)",
				"",
			}, "\n")},
			{"cli", "type:           public (no secret)\ngrants:         (none)\n"},
		}
		for _, tt := range tests {
			f.reset()
			require.NoError(t, f.ShowClient(t.Context(), tt.id))
			assert.Contains(t, f.out.String(), tt.want)
		}
		assert.EqualError(t, f.ShowClient(t.Context(), "nope"), `no client "nope"`)
	})
}

func TestManageClient_Remove(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "web", Public: true}))
		f.reset()
		require.NoError(t, f.RemoveClient(t.Context(), "web"))
		assert.Contains(t, f.err.String(), `Removed client "web".`)
		_, err := f.Store.Client(t.Context(), "web")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		f.checkFile(t)

		err = f.RemoveClient(t.Context(), "web")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no client "web"`)
	})
}

func TestManageClient_ListEmpty(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.ListClients(t.Context()))
	assert.Empty(t, f.out.String())
	assert.Equal(t, "No clients.\n", f.err.String())
}

// TestManageClient_ReloadNotice: a file repository's changes need a reload,
// a SQL one's do not.
func TestManageClient_ReloadNotice(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.loc(t.TempDir()))
			require.NoError(t, f.AddClient(t.Context(), ClientSpec{ID: "web", Public: true}))
			if b.name == "file" {
				assert.Contains(t, f.err.String(), "caddy reload")
			} else {
				assert.NotContains(t, f.err.String(), "reload")
			}
		})
	}
}

// TestManageClient_ListControlCharacters: names are free text; a listing must
// not pass escape sequences to the terminal.
func TestManageClient_ListControlCharacters(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.Store.PutClient(t.Context(), repos.Client{ID: "web", Name: "evil\x1b[2Jname\tx"}))
	require.NoError(t, f.ListClients(t.Context()))
	assert.NotContains(t, f.out.String(), "\x1b")
	assert.Contains(t, f.out.String(), "evil\uFFFD[2Jname\uFFFDx")
}
