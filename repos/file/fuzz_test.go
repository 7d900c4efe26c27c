package file

import (
	"context"
	"testing"
)

// FuzzParse checks that no definitions file can panic the loader, and that
// whatever it accepts satisfies the invariants lookups rely on.
func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"clients": [{"id": "a", "grants": [], "scopes": null}]}`))
	f.Add([]byte(`{"users": [{"id": "u", "username": "u", "password_hash": "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"scopes": [{"id": "a"}], "clients": [{"id": "c", "scopes": ["a"], "default_scope": ["a"]}]} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			if d != nil {
				t.Fatal("definitions returned with an error")
			}
			return
		}
		ctx := context.Background()
		for id, c := range d.clients {
			got, err := d.Client(ctx, id)
			if err != nil || got.ID != id {
				t.Fatalf("client %q: lookup %v, %v", id, got, err)
			}
			for _, s := range append(append([]string(nil), c.Scopes...), c.DefaultScope...) {
				if _, err := d.Scope(ctx, s); err != nil {
					t.Fatalf("client %q: scope %q accepted but not declared", id, s)
				}
			}
		}
		for _, u := range d.users {
			if got, err := d.UserByUsername(ctx, u.Username); err != nil || got.ID != u.ID {
				t.Fatalf("user %q: lookup by username %v, %v", u.ID, got, err)
			}
		}
	})
}
