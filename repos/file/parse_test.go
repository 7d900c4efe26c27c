package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/repotest"
)

const (
	bcryptHash   = repotest.Hash
	argon2idHash = "$argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg"
)

// designExample is the example of DESIGN.md §4 without its comments.
const designExample = `{
  "scopes":  [{"id": "read", "description": "Read access"}, {"id": "write"}],
  "clients": [{
      "id": "web", "name": "Web app",
      "secret_hash": "` + bcryptHash + `",
      "grants": ["password", "refresh_token"],
      "scopes": ["read", "write"],
      "default_scope": ["read"]
  }],
  "users": [{"id": "u-1001", "username": "alice", "password_hash": "` + argon2idHash + `", "scopes": ["read"]}]
}`

func TestParse_DesignExample(t *testing.T) {
	d, err := Parse([]byte(designExample))
	require.NoError(t, err)

	c, err := d.Client(context.Background(), "web")
	require.NoError(t, err)
	assert.Equal(t, &repos.Client{
		ID: "web", Name: "Web app", SecretHash: bcryptHash,
		Grants: []string{"password", "refresh_token"}, Scopes: []string{"read", "write"}, DefaultScope: []string{"read"},
	}, c)
	u, err := d.UserByUsername(context.Background(), "alice")
	require.NoError(t, err)
	assert.Equal(t, &repos.User{ID: "u-1001", Username: "alice", PasswordHash: argon2idHash, Scopes: []string{"read"}}, u)
	s, err := d.Scope(context.Background(), "write")
	require.NoError(t, err)
	assert.Equal(t, &repos.Scope{ID: "write"}, s)
}

func TestParse_Introspect(t *testing.T) {
	d, err := Parse([]byte(`{"clients": [
		{"id": "rs", "secret_hash": "` + bcryptHash + `", "introspect": true},
		{"id": "web", "secret_hash": "` + bcryptHash + `", "introspect": false},
		{"id": "cli"}
	]}`))
	require.NoError(t, err)
	for id, want := range map[string]bool{"rs": true, "web": false, "cli": false} {
		c, err := d.Client(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, want, c.Introspect, id)
	}
}

func TestParse_MinimalDocuments(t *testing.T) {
	for _, doc := range []string{`{}`, ` {"scopes": [], "clients": [], "users": []} `, `{"clients": null}`, "\xef\xbb\xbf{}"} {
		_, err := Parse([]byte(doc))
		assert.NoError(t, err, doc)
	}
	d, err := Parse([]byte(`{"clients": [{"id": "cli"}]}`))
	require.NoError(t, err)
	c, err := d.Client(context.Background(), "cli")
	require.NoError(t, err)
	assert.False(t, c.Confidential(), "no secret_hash: a public client")
	assert.Nil(t, c.Grants, "no grants: every enabled grant")
}

func TestParse_RejectsMistakes(t *testing.T) {
	// doc builds a document around one client and one user; scopes read and
	// write are declared.
	doc := func(client, user string) string {
		return `{"scopes": [{"id": "read"}, {"id": "write"}], "clients": [` + client + `], "users": [` + user + `]}`
	}
	okClient := `{"id": "web", "secret_hash": "` + bcryptHash + `"}`
	okUser := `{"id": "u-1", "username": "alice", "password_hash": "` + bcryptHash + `"}`
	client := func(fields string) string { return doc(`{"id": "web", `+fields+`}`, okUser) }
	user := func(fields string) string { return doc(okClient, `{"id": "u-1", "username": "alice", `+fields+`}`) }

	tests := []struct {
		name string
		doc  string
		want string
	}{
		// The document.
		{"empty", ``, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"syntax error", "{\n  \"clients\": [,]\n}", "line 2, column 15: invalid character ','"},
		{"truncated", `{"clients": [`, "truncated JSON"},
		{"trailing data", `{} {}`, "line 1, column 4: data after the JSON object"},
		{"comments", "{\n  // a comment\n}", "line 2, column 3: invalid character '/'"},
		{"unknown top-level field", `{"client": []}`, `unknown field "client"`},
		{"unknown client field", client(`"secret": "x"`), `unknown field "secret"`},
		{"unknown user field", user(`"password": "x"`), `unknown field "password"`},
		{"wrong type", client(`"grants": "password"`), "clients.grants must be []string, not string"},

		// Scopes.
		{"scope without id", `{"scopes": [{"description": "x"}]}`, `scopes[0] "": id is empty`},
		{"duplicate scope", `{"scopes": [{"id": "read"}, {"id": "read"}]}`, `scopes[1] "read": duplicate id`},
		{"scope with a space", `{"scopes": [{"id": "read all"}]}`, `scopes[0] "read all": id may contain only printable ASCII`},
		{"scope with a quote", `{"scopes": [{"id": "a\"b"}]}`, `id may contain only printable ASCII`},
		{"scope with non-ASCII", `{"scopes": [{"id": "lesen\u00e9"}]}`, `id may contain only printable ASCII`},

		// Clients.
		{"client without id", doc(`{"name": "x"}`, okUser), `clients[0] "": id is empty`},
		{"client id with colon", doc(`{"id": "a:b"}`, okUser), `clients[0] "a:b": id contains ':'`},
		{"client id too long", doc(`{"id": "`+strings.Repeat("c", repos.MaxIDLength+1)+`"}`, okUser), "id is longer than 255 bytes"},
		{"user id too long", doc(okClient, `{"id": "`+strings.Repeat("u", repos.MaxIDLength+1)+`", "username": "a", "password_hash": "`+bcryptHash+`"}`), "id is longer than 255 bytes"},
		{"username too long", doc(okClient, `{"id": "u", "username": "`+strings.Repeat("a", repos.MaxIDLength+1)+`", "password_hash": "`+bcryptHash+`"}`), "username is longer than 255 bytes"},
		{"duplicate client", doc(okClient+`, {"id": "web"}`, okUser), `clients[1] "web": duplicate id`},
		{"unknown grant", client(`"grants": ["password", "implicit"]`), `clients[0] "web": grants[1]: unknown grant "implicit" (want refresh_token, password, client_credentials)`},
		{"grant in the wrong case", client(`"grants": ["Password"]`), `grants[0]: unknown grant "Password"`},
		{"duplicate grant", client(`"grants": ["password", "password"]`), `grants[1]: duplicate "password"`},
		{"undeclared client scope", client(`"scopes": ["read", "admin"]`), `clients[0] "web": scopes[1]: scope "admin" is not declared in "scopes"`},
		{"duplicate client scope", client(`"scopes": ["read", "read"]`), `scopes[1]: duplicate "read"`},
		{"undeclared default scope", client(`"default_scope": ["admin"]`), `default_scope[0]: scope "admin" is not declared`},
		{"default scope outside the client's", client(`"scopes": ["read"], "default_scope": ["write"]`), `default_scope[0]: scope "write" is not in the client's scopes`},
		{"default scope with no scopes allowed", client(`"scopes": [], "default_scope": ["read"]`), `default_scope[0]: scope "read" is not in the client's scopes`},
		{"plain-text secret", client(`"secret_hash": "hunter2hunter2"`), `clients[0] "web": secret_hash: not a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash`},
		{"introspect on a public client", doc(`{"id": "cli", "introspect": true}`, okUser), `clients[0] "cli": introspect is for confidential clients`},
		{"introspect not a boolean", client(`"introspect": "yes"`), "clients.introspect must be bool, not string"},

		// Users.
		{"user without id", doc(okClient, `{"username": "a", "password_hash": "`+bcryptHash+`"}`), `users[0] "": id is empty`},
		{"user without username", doc(okClient, `{"id": "u-1", "password_hash": "`+bcryptHash+`"}`), `users[0] "u-1": username is empty`},
		{"duplicate user id", doc(okClient, okUser+`, {"id": "u-1", "username": "bob", "password_hash": "`+bcryptHash+`"}`), `users[1] "u-1": duplicate id`},
		{"duplicate username", doc(okClient, okUser+`, {"id": "u-2", "username": "alice", "password_hash": "`+bcryptHash+`"}`), `users[1] "u-2": duplicate username "alice"`},
		{"user without password", doc(okClient, `{"id": "u-1", "username": "alice"}`), `users[0] "u-1": password_hash is empty`},
		{"md5 password", user(`"password_hash": "$1$abcdefgh$hunter2hunter2"`), `users[0] "u-1": password_hash: not a bcrypt`},
		{"undeclared user scope", user(`"password_hash": "` + bcryptHash + `", "scopes": ["admin"]`), `users[0] "u-1": scopes[0]: scope "admin" is not declared`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "hunter2", "errors never repeat a secret or hash")
			assert.NotContains(t, err.Error(), bcryptHash[7:], "errors never repeat a hash")
		})
	}
}

func TestParse_ReportsEveryMistake(t *testing.T) {
	_, err := Parse([]byte(`{"clients": [{"id": ""}, {"id": "a:b"}], "users": [{"id": "u"}]}`))
	require.Error(t, err)
	for _, want := range []string{`clients[0] "": id is empty`, `clients[1] "a:b": id contains ':'`, `users[0] "u": username is empty`, `users[0] "u": password_hash is empty`} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestParse_BoundsTheReport(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"clients": [`)
	for i := range 50 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"id": ""}`)
	}
	b.WriteString(`]}`)
	_, err := Parse([]byte(b.String()))
	require.Error(t, err)
	assert.Equal(t, maxReported+1, strings.Count(err.Error(), "\n")+1)
	assert.Contains(t, err.Error(), "and 30 more")
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return path
	}

	d, err := Load(write("ok.json", []byte(designExample)))
	require.NoError(t, err)
	_, err = d.UserByID(context.Background(), "u-1001")
	assert.NoError(t, err)

	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "missing.json"), "reading definitions file"},
		{"invalid file", write("bad.json", []byte(`{"clients": [{"id": ""}]}`)), `bad.json: clients[0] "": id is empty`},
		{"oversize file", write("big.json", append([]byte(`{"scopes": [`), make([]byte, MaxSize)...)), "is larger than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(tt.path)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParse_RejectsOversizeInput(t *testing.T) {
	_, err := Parse(make([]byte, MaxSize+1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 16 MiB")
}
