package repotest

import "github.com/caddy-oauth2/caddy-oauth2/repos"

// Fixture is the definitions a backend is preloaded with before a subtest. The
// field names and JSON tags are those of the definitions file (DESIGN.md §4).
type Fixture struct {
	Scopes  []repos.Scope  `json:"scopes"`
	Clients []repos.Client `json:"clients"`
	Users   []repos.User   `json:"users"`
}

// Hash is a well-formed bcrypt hash (of "correct horse", cost 4) for fixtures:
// backends that validate hash formats accept it.
const Hash = "$2a$04$Gbp3QJxqCCJ.2SSoShK53eK2.B43UehH2kkoeDVqO17DINtqOomFu"

// fixture returns the definitions every subtest starts from, freshly allocated
// so that no backend can alias another's slices. It holds each shape a lookup
// must give back unchanged: nil lists (no restriction) next to empty ones
// (nothing allowed), confidential and public clients.
func fixture() Fixture {
	return Fixture{
		Scopes: []repos.Scope{
			{ID: "read", Description: "Read access"},
			{ID: "write", Description: "Write access"},
			{ID: "admin"},
		},
		Clients: []repos.Client{
			{
				ID: "web", Name: "Web app", SecretHash: Hash,
				Grants:       []string{"password", "refresh_token"},
				Scopes:       []string{"read", "write"},
				DefaultScope: []string{"read"},
				Introspect:   true,
			},
			{ID: "public", Name: "Public app"}, // nil lists: unrestricted
			{
				ID: "locked", SecretHash: Hash,
				Grants: []string{}, Scopes: []string{}, DefaultScope: []string{},
			},
		},
		Users: []repos.User{
			{ID: "u-1001", Username: "alice", PasswordHash: Hash, Scopes: []string{"read"}},
			{ID: "u-1002", Username: "bob", PasswordHash: Hash}, // nil: every scope
			{ID: "u-1003", Username: "carol", PasswordHash: Hash, Scopes: []string{}},
		},
	}
}
