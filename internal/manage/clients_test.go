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
		spec := clientSpec{
			id: "web", name: "Web app",
			grants: []string{"password", "refresh_token"}, scopes: []string{"read", "write"}, defaultScope: []string{"read"},
		}
		require.NoError(t, f.addClient(t.Context(), spec))

		secret := strings.TrimSuffix(f.out.String(), "\n")
		assert.Equal(t, secret+"\n", f.out.String(), "the standard output is the secret alone")
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		require.NoError(t, err, "base64url without padding")
		assert.Len(t, raw, 32)
		assert.NotContains(t, f.err.String(), secret)
		assert.Contains(t, f.err.String(), "shown only this once")

		stored, err := f.store.Client(t.Context(), "web")
		require.NoError(t, err)
		require.NoError(t, bcrypt.CompareHashAndPassword([]byte(stored.SecretHash), []byte(secret)), "the stored hash verifies the printed secret")
		stored.SecretHash = ""
		assert.Equal(t, &repos.Client{ID: "web", Name: "Web app", Grants: spec.grants, Scopes: spec.scopes, DefaultScope: spec.defaultScope}, stored)
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.showClient(t.Context(), "web"))
		require.NoError(t, f.listClients(t.Context()))
		assert.NotContains(t, f.out.String(), secret, "the secret is never printed again")
		assert.NotContains(t, f.out.String(), "$2a$", "nor its hash")
	})
}

func TestManageClient_SecretsDiffer(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.addClient(t.Context(), clientSpec{id: "a"}))
	require.NoError(t, f.addClient(t.Context(), clientSpec{id: "b"}))
	lines := strings.Fields(f.out.String())
	require.Len(t, lines, 2)
	assert.NotEqual(t, lines[0], lines[1])
}

func TestManageClient_AddPublic(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "cli", public: true, grants: []string{"password"}}))
		assert.Empty(t, f.out.String(), "no secret")
		assert.Contains(t, f.err.String(), `Added public client "cli"`)
		c, err := f.store.Client(t.Context(), "cli")
		require.NoError(t, err)
		assert.False(t, c.Confidential())
		f.checkFile(t)
	})
}

func TestManageClient_ListsKeepNilAndEmptyApart(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "open", public: true}))
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "closed", public: true, grants: []string{}, scopes: []string{}, defaultScope: []string{}}))

		open, err := f.store.Client(t.Context(), "open")
		require.NoError(t, err)
		assert.Nil(t, open.Grants)
		assert.Nil(t, open.Scopes)
		assert.Nil(t, open.DefaultScope)
		closed, err := f.store.Client(t.Context(), "closed")
		require.NoError(t, err)
		assert.Equal(t, []string{}, closed.Grants)
		assert.Equal(t, []string{}, closed.Scopes)
		assert.Equal(t, []string{}, closed.DefaultScope)

		f.reset()
		require.NoError(t, f.listClients(t.Context()))
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
		spec clientSpec
		want string
	}{
		{"existing id", clientSpec{id: "taken"}, `client "taken" already exists`},
		{"empty id", clientSpec{}, `client "": id is empty`},
		{"id too long for the token store", clientSpec{id: strings.Repeat("c", repos.MaxIDLength+1)}, "id is longer than 255 bytes"},
		{"colon in id", clientSpec{id: "a:b"}, "contains ':'"},
		{"control character in id", clientSpec{id: "a\nb"}, "control characters"},
		{"unknown grant", clientSpec{id: "c", grants: []string{"implicit"}}, `unknown grant "implicit"`},
		{"grant twice", clientSpec{id: "c", grants: []string{"password", "password"}}, `"password" is named twice`},
		{"public client_credentials", clientSpec{id: "c", public: true, grants: []string{"client_credentials"}}, "public client cannot use client_credentials"},
		{"unknown scope", clientSpec{id: "c", scopes: []string{"read", "nope", "gone"}}, `--scopes: unknown scope "nope", "gone"; declare it first`},
		{"malformed scope", clientSpec{id: "c", scopes: []string{`a"b`}}, "printable ASCII"},
		{"scope twice", clientSpec{id: "c", scopes: []string{"read", "read"}}, `"read" is named twice`},
		{"unknown default scope", clientSpec{id: "c", defaultScope: []string{"nope"}}, `--default-scope: unknown scope "nope"`},
		{"default outside scopes", clientSpec{id: "c", scopes: []string{"read"}, defaultScope: []string{"write"}}, `"write" is not among the client's --scopes`},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read", "write")
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "taken", public: true}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f.reset()
				err := f.addClient(t.Context(), tt.spec)
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.want)
				assert.Empty(t, f.out.String(), "no secret is printed for a refused client")
			})
		}
		clients, err := f.store.ListClients(t.Context())
		require.NoError(t, err)
		require.Len(t, clients, 1, "nothing was stored")
		assert.False(t, clients[0].Confidential(), "the existing client was not replaced")
		f.checkFile(t)
	})
}

func TestManageClient_RotateSecret(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web", name: "Web", grants: []string{"refresh_token"}}))
		old := strings.TrimSpace(f.out.String())
		before, err := f.store.Client(t.Context(), "web")
		require.NoError(t, err)

		f.reset()
		require.NoError(t, f.rotateClientSecret(t.Context(), "web", false))
		secret := strings.TrimSpace(f.out.String())
		assert.NotEqual(t, old, secret)
		assert.Len(t, secret, 43)
		after, err := f.store.Client(t.Context(), "web")
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
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "cli", public: true}))
		err := f.rotateClientSecret(t.Context(), "cli", false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "public")

		err = f.rotateClientSecret(t.Context(), "nope", false)
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no client "nope"`)
		assert.Empty(t, f.out.String())
	})
}

func TestManageClient_Show(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read")
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web", name: "Web app", scopes: []string{"read"}}))
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "cli", public: true, grants: []string{}}))

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
			require.NoError(t, f.showClient(t.Context(), tt.id))
			assert.Contains(t, f.out.String(), tt.want)
		}
		assert.EqualError(t, f.showClient(t.Context(), "nope"), `no client "nope"`)
	})
}

func TestManageClient_Remove(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web", public: true}))
		f.reset()
		require.NoError(t, f.removeClient(t.Context(), "web", false))
		assert.Contains(t, f.err.String(), `Removed client "web".`)
		_, err := f.store.Client(t.Context(), "web")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		f.checkFile(t)

		err = f.removeClient(t.Context(), "web", false)
		assert.ErrorIs(t, err, repos.ErrNotFound)
		assert.EqualError(t, err, `no client "web"`)
	})
}

func TestManageClient_ListEmpty(t *testing.T) {
	f := newFixture(t, backends[0].loc(t.TempDir()))
	require.NoError(t, f.listClients(t.Context()))
	assert.Empty(t, f.out.String())
	assert.Equal(t, "No clients.\n", f.err.String())
}

// TestManageClient_ChangeNotice: a running Caddy sees a file repository's
// changes within a second, and a SQL one's at once; neither needs a reload.
func TestManageClient_ChangeNotice(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.loc(t.TempDir()))
			require.NoError(t, f.addClient(t.Context(), clientSpec{id: "web", public: true}))
			assert.NotContains(t, f.err.String(), "caddy reload")
			if b.name == "file" {
				assert.Contains(t, f.err.String(), "within a second")
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
	require.NoError(t, f.store.PutClient(t.Context(), repos.Client{ID: "web", Name: "evil\x1b[2Jname\tx"}))
	require.NoError(t, f.listClients(t.Context()))
	assert.NotContains(t, f.out.String(), "\x1b")
	assert.Contains(t, f.out.String(), "evil\uFFFD[2Jname\uFFFDx")
}

func TestManageClient_AddIntrospect(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "rs", introspect: true}))
		c, err := f.store.Client(t.Context(), "rs")
		require.NoError(t, err)
		assert.True(t, c.Introspect)
		f.checkFile(t)

		f.reset()
		require.NoError(t, f.showClient(t.Context(), "rs"))
		assert.Contains(t, f.out.String(), "introspect:     every token\n")

		err = f.addClient(t.Context(), clientSpec{id: "cli", public: true, introspect: true})
		assert.ErrorContains(t, err, "--introspect: only a confidential client may call the introspection endpoint")
		_, err = f.store.Client(t.Context(), "cli")
		assert.ErrorIs(t, err, repos.ErrNotFound)
	})
}

func TestManageClient_Update(t *testing.T) {
	list := func(l ...string) *[]string { l = append([]string{}, l...); return &l }
	unrestricted := new([]string)
	name, yes, no := "New name", true, false
	hash, err := testHash([]byte("secret"))
	require.NoError(t, err)
	web := repos.Client{ID: "web", Name: "Web", SecretHash: string(hash), Grants: []string{"password", "refresh_token"},
		Scopes: []string{"read", "write"}, DefaultScope: []string{"read"}}
	tests := []struct {
		name   string
		update clientUpdate
		want   func(c repos.Client) repos.Client // from web; nil: refused
		err    string
	}{
		{"name", clientUpdate{name: &name}, func(c repos.Client) repos.Client { c.Name = name; return c }, ""},
		{"grants", clientUpdate{grants: list("client_credentials")},
			func(c repos.Client) repos.Client { c.Grants = []string{"client_credentials"}; return c }, ""},
		{"scopes narrowed, with the default scope", clientUpdate{scopes: list("read")},
			func(c repos.Client) repos.Client { c.Scopes = []string{"read"}; return c }, ""},
		{"nothing allowed", clientUpdate{grants: list(), scopes: list(), defaultScope: list()},
			func(c repos.Client) repos.Client {
				c.Grants, c.Scopes, c.DefaultScope = []string{}, []string{}, []string{}
				return c
			}, ""},
		{"restrictions lifted", clientUpdate{grants: unrestricted, scopes: unrestricted, defaultScope: unrestricted},
			func(c repos.Client) repos.Client { c.Grants, c.Scopes, c.DefaultScope = nil, nil, nil; return c }, ""},
		{"introspect", clientUpdate{introspect: &yes}, func(c repos.Client) repos.Client { c.Introspect = true; return c }, ""},
		{"no introspect", clientUpdate{introspect: &no}, func(c repos.Client) repos.Client { return c }, ""},

		{"nothing to change", clientUpdate{}, nil, "nothing to change"},
		{"unknown grant", clientUpdate{grants: list("implicit")}, nil, `unknown grant "implicit"`},
		{"unknown scope", clientUpdate{scopes: list("read", "admin")}, nil, `--scopes: unknown scope "admin"`},
		{"scopes narrowed below the default scope", clientUpdate{scopes: list("write")}, nil,
			`--default-scope: "read" is not among the client's --scopes`},
		{"default scope outside the scopes", clientUpdate{defaultScope: list("write", "admin")}, nil, `--default-scope: unknown scope "admin"`},
	}
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.scopes(t, "read", "write")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.NoError(t, f.store.PutClient(t.Context(), web))
				before, err := f.store.Client(t.Context(), "web")
				require.NoError(t, err)
				f.reset()

				err = f.updateClient(t.Context(), "web", tt.update)
				after, gerr := f.store.Client(t.Context(), "web")
				require.NoError(t, gerr)
				if tt.want == nil {
					require.Error(t, err)
					assert.Contains(t, err.Error(), tt.err)
					assert.Equal(t, before, after, "a refused update changes nothing")
					return
				}
				require.NoError(t, err)
				assert.Contains(t, f.err.String(), `Updated client "web".`)
				want := tt.want(web)
				assert.Equal(t, &want, after, "the secret is kept")
				f.checkFile(t)
			})
		}

		require.NoError(t, f.addClient(t.Context(), clientSpec{id: "cli", public: true}))
		err := f.updateClient(t.Context(), "cli", clientUpdate{introspect: &yes})
		assert.ErrorContains(t, err, "--introspect: only a confidential client may call the introspection endpoint")
		err = f.updateClient(t.Context(), "cli", clientUpdate{grants: list("client_credentials")})
		assert.ErrorContains(t, err, "a public client cannot use client_credentials")
		assert.EqualError(t, f.updateClient(t.Context(), "nope", clientUpdate{name: &name}), `no client "nope"`)
	})
}
