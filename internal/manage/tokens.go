package manage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

// tokenStore is a repository's token state, as far as the commands change it:
// they revoke tokens, never issue them.
type tokenStore interface {
	RevokeFamilies(ctx context.Context, by repos.FamilyOwner) (int, error)
}

// tokenState opens a repository's token state the first time a command needs
// it, so that the commands that revoke nothing never touch it, and closes it
// with the repository. A SQL repository is its own token state; a definitions
// file's is the SQL database its Location names.
type tokenState struct {
	repo  Location // the repository
	defs  store    // the repository's store
	store tokenStore
	loc   Location // where store is, once open
	close func() error
}

// open returns the token state and where it is.
func (ts *tokenState) open(ctx context.Context) (tokenStore, Location, error) {
	if ts.store != nil {
		return ts.store, ts.loc, nil
	}
	loc, err := ts.repo.tokenLocation()
	if err != nil {
		return nil, Location{}, err
	}
	if loc == ts.repo {
		s, ok := ts.defs.(tokenStore)
		if !ok {
			return nil, Location{}, fmt.Errorf("the %s keeps no token state", loc)
		}
		ts.store, ts.loc = s, loc
		return s, loc, nil
	}
	s, err := openTokenStore(ctx, loc)
	if err != nil {
		return nil, Location{}, err
	}
	ts.store, ts.loc, ts.close = s, loc, s.Close
	return s, loc, nil
}

// Close closes the token state if open opened it.
func (ts *tokenState) Close() error {
	if ts.close == nil {
		return nil
	}
	return ts.close()
}

// openTokenStore opens the token database of a definitions file. A SQLite
// file that does not exist is not created: no token can be in it, and making
// one where Caddy does not look (under the data directory of the user running
// the command, who may not be Caddy's) would hide that mistake.
func openTokenStore(ctx context.Context, loc Location) (*reposql.Store, error) {
	if loc.Driver == "sqlite" {
		if _, err := os.Stat(reposql.SQLiteFile(loc.DSN)); errors.Is(err, fs.ErrNotExist) {
			return nil, &noTokenStateError{loc: loc}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	s, err := reposql.Open(ctx, loc.Driver, loc.DSN)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", loc, err)
	}
	return s, nil
}

// noTokenStateError is a definitions file's SQLite token database that does
// not exist.
type noTokenStateError struct{ loc Location }

func (e *noTokenStateError) Error() string {
	return fmt.Sprintf("there is no %s, where the token state would be: Caddy has not run with it yet, "+
		`or keeps it elsewhere (as another user, under that user's data directory); name it with --repository "sql sqlite <path>"`, e.loc)
}

// owner is whose token families a command revokes, with how to name it for
// people and in a `caddy oauth2 revoke` command line.
type owner struct {
	repos.FamilyOwner
	who  string // `user "alice" (id "u-1")`, `client "web"`
	flag string // `--user u-1`, `--client web`
}

// userOwner is the owner of a user's token families.
func userOwner(u *repos.User) owner {
	return owner{
		FamilyOwner: repos.FamilyOwner{UserID: u.ID},
		who:         fmt.Sprintf("user %q (id %q)", u.Username, u.ID),
		flag:        "--user " + u.ID,
	}
}

// clientOwner is the owner of a client's token families.
func clientOwner(id string) owner {
	return owner{FamilyOwner: repos.FamilyOwner{ClientID: id}, who: fmt.Sprintf("client %q", id), flag: "--client " + id}
}

// revokeFamilies revokes every token family of o and says how many it
// revoked, and where when that is not the repository itself.
func (m *manager) revokeFamilies(ctx context.Context, o owner) error {
	tokens, loc, err := m.tokens.open(ctx)
	if err != nil {
		return err
	}
	if loc != m.tokens.repo {
		fmt.Fprintf(m.stderr, "Revoking tokens in the %s.\n", loc)
	}
	n, err := tokens.RevokeFamilies(ctx, o.FamilyOwner)
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", o.who, err)
	}
	if n == 0 {
		fmt.Fprintf(m.stderr, "No tokens of %s to revoke.\n", o.who)
		return nil
	}
	fmt.Fprintf(m.stderr, "Revoked %s of %s: its refresh tokens no longer work, and its access tokens are "+
		"refused wherever revocation is checked (elsewhere they last until they expire).\n", families(n), o.who)
	return nil
}

// revokeAfter revokes o's token families after a change that ends its access
// (a new password or secret, a removal), unless keep. The change is made when
// this runs, so a token state that does not exist yet is a warning rather than
// a failure, and any other failure says how to finish the revocation.
func (m *manager) revokeAfter(ctx context.Context, o owner, keep bool) error {
	if keep {
		fmt.Fprintf(m.stderr, "The tokens of %s were kept (--keep-tokens).\n", o.who)
		return nil
	}
	err := m.revokeFamilies(ctx, o)
	var none *noTokenStateError
	switch {
	case errors.As(err, &none):
		fmt.Fprintf(m.stderr, "Warning: no tokens revoked: %v.\n", err)
		return nil
	case err != nil:
		return fmt.Errorf("%w (the change itself is made; revoke with `caddy oauth2 revoke %s`)", err, o.flag)
	}
	return nil
}

// revoke revokes every token family of a user, by id, or of a client, for the
// revoke command. An owner the repository does not know is revoked all the
// same (a removed user's tokens may outlive it), with a warning; but a user
// id that is some user's username is refused, since it is the likely mistake
// and would revoke nothing.
func (m *manager) revoke(ctx context.Context, by repos.FamilyOwner) error {
	o, err := m.describeOwner(ctx, by)
	if err != nil {
		return err
	}
	return m.revokeFamilies(ctx, o)
}

// describeOwner names the owner of by for people, looking it up.
func (m *manager) describeOwner(ctx context.Context, by repos.FamilyOwner) (owner, error) {
	if by.ClientID != "" {
		_, err := m.store.Client(ctx, by.ClientID)
		if err := m.warnUnknown(err, "client", by.ClientID); err != nil {
			return owner{}, err
		}
		return clientOwner(by.ClientID), nil
	}
	u, err := m.store.UserByID(ctx, by.UserID)
	if err == nil {
		return userOwner(u), nil
	}
	if named, nerr := m.store.UserByUsername(ctx, by.UserID); nerr == nil {
		return owner{}, fmt.Errorf("--user takes a user id, and no user has the id %q; the user named %q has the id %q",
			by.UserID, by.UserID, named.ID)
	}
	if err := m.warnUnknown(err, "user", by.UserID); err != nil {
		return owner{}, err
	}
	return owner{FamilyOwner: by, who: fmt.Sprintf("user id %q", by.UserID), flag: "--user " + by.UserID}, nil
}

// warnUnknown warns about an owner the repository does not have, given the
// error of looking it up; other errors pass.
func (m *manager) warnUnknown(err error, what, id string) error {
	if errors.Is(err, repos.ErrNotFound) {
		fmt.Fprintf(m.stderr, "Warning: the repository has no %s with the id %q (removed?); revoking its tokens all the same.\n", what, id)
		return nil
	}
	return err
}

// families counts token families for people.
func families(n int) string {
	if n == 1 {
		return "1 token family"
	}
	return fmt.Sprintf("%d token families", n)
}
