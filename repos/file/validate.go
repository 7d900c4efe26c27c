package file

import (
	"errors"
	"fmt"
	"slices"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

// maxReported bounds how many mistakes one error lists: enough to fix a file
// in one go, not so many that a wrong file floods the log.
const maxReported = 20

// problems collects the mistakes of a document, each prefixed with the entry
// it was found in.
type problems struct {
	errs  []error
	count int
}

func (p *problems) add(entry, format string, args ...any) {
	p.count++
	if len(p.errs) < maxReported {
		p.errs = append(p.errs, fmt.Errorf("%s: %s", entry, fmt.Sprintf(format, args...)))
	}
}

func (p *problems) err() error {
	if p.count > len(p.errs) {
		p.errs = append(p.errs, fmt.Errorf("and %d more", p.count-len(p.errs)))
	}
	return errors.Join(p.errs...)
}

// validate checks a decoded document as a whole.
func validate(doc *document) error {
	var p problems
	declared := validateScopes(&p, doc.Scopes)
	validateClients(&p, doc.Clients, declared)
	validateUsers(&p, doc.Users, declared)
	return p.err()
}

// validateScopes checks the scope entries and returns the declared ids.
func validateScopes(p *problems, scopes []repos.Scope) map[string]bool {
	declared := make(map[string]bool, len(scopes))
	for i, s := range scopes {
		entry := fmt.Sprintf("scopes[%d] %q", i, s.ID)
		switch {
		case s.ID == "":
			p.add(entry, "id is empty")
		case !repos.IsScopeToken(s.ID):
			p.add(entry, "id may contain only printable ASCII other than space, \" and \\ (RFC 6749 §3.3), at most %d bytes", repos.MaxScopeLength)
		case declared[s.ID]:
			p.add(entry, "duplicate id")
		}
		declared[s.ID] = true
	}
	return declared
}

// validateClients checks the client entries against the declared scopes.
func validateClients(p *problems, clients []repos.Client, declared map[string]bool) {
	ids := make(map[string]bool, len(clients))
	for i, c := range clients {
		entry := fmt.Sprintf("clients[%d] %q", i, c.ID)
		if err := repos.CheckClientID(c.ID); err != nil {
			p.add(entry, "%v", err)
		} else if ids[c.ID] {
			p.add(entry, "duplicate id")
		}
		ids[c.ID] = true
		if c.SecretHash != "" {
			if err := secrets.CheckHash(c.SecretHash); err != nil {
				p.add(entry, "secret_hash: %v", err)
			}
		}
		if err := repos.CheckIntrospect(&c); err != nil {
			p.add(entry, "%v", err)
		}
		checkList(p, entry, "grants", c.Grants, func(g string) string {
			if err := repos.CheckGrantType(g); err != nil {
				return err.Error()
			}
			return ""
		})
		checkList(p, entry, "scopes", c.Scopes, undeclared(declared))
		checkList(p, entry, "default_scope", c.DefaultScope, func(s string) string {
			if msg := undeclared(declared)(s); msg != "" {
				return msg
			}
			if c.Scopes != nil && !slices.Contains(c.Scopes, s) {
				return fmt.Sprintf("scope %q is not in the client's scopes", s)
			}
			return ""
		})
	}
}

// validateUsers checks the user entries against the declared scopes.
func validateUsers(p *problems, users []repos.User, declared map[string]bool) {
	ids := make(map[string]bool, len(users))
	usernames := make(map[string]bool, len(users))
	for i, u := range users {
		entry := fmt.Sprintf("users[%d] %q", i, u.ID)
		if err := repos.CheckUserID(u.ID); err != nil {
			p.add(entry, "%v", err)
		} else if ids[u.ID] {
			p.add(entry, "duplicate id")
		}
		ids[u.ID] = true
		if err := repos.CheckUsername(u.Username); err != nil {
			p.add(entry, "%v", err)
		} else if usernames[u.Username] {
			p.add(entry, "duplicate username %q", u.Username)
		}
		usernames[u.Username] = true
		if u.PasswordHash == "" {
			p.add(entry, "password_hash is empty")
		} else if err := secrets.CheckHash(u.PasswordHash); err != nil {
			p.add(entry, "password_hash: %v", err)
		}
		checkList(p, entry, "scopes", u.Scopes, undeclared(declared))
	}
}

// checkList reports the entries of a list that check rejects, and duplicates.
func checkList(p *problems, entry, field string, list []string, check func(string) string) {
	for i, v := range list {
		if msg := check(v); msg != "" {
			p.add(entry, "%s[%d]: %s", field, i, msg)
		} else if slices.Contains(list[:i], v) {
			p.add(entry, "%s[%d]: duplicate %q", field, i, v)
		}
	}
}

// undeclared returns a check that rejects scopes missing from declared.
func undeclared(declared map[string]bool) func(string) string {
	return func(s string) string {
		if !declared[s] {
			return fmt.Sprintf("scope %q is not declared in \"scopes\"", s)
		}
		return ""
	}
}
