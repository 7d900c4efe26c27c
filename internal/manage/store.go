package manage

import (
	"context"
	"fmt"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

// store is a definitions store that the commands can manage: the lookups the
// token endpoint uses, plus listing, storing and deleting. *reposql.Store is
// one as it is; a definitions file is one through fileStore.
//
// Lookups and deletions of a missing id return an error wrapping
// repos.ErrNotFound. Put methods create or replace; the commands check
// for an existing entry first where replacing would be wrong.
type store interface {
	repos.Definitions

	ListClients(ctx context.Context) ([]repos.Client, error)
	ListUsers(ctx context.Context) ([]repos.User, error)
	ListScopes(ctx context.Context) ([]repos.Scope, error)

	PutClient(ctx context.Context, c repos.Client) error
	PutUser(ctx context.Context, u repos.User) error
	PutScope(ctx context.Context, s repos.Scope) error

	DeleteClient(ctx context.Context, id string) error
	DeleteUser(ctx context.Context, id string) error
	DeleteScope(ctx context.Context, id string) error

	Close() error
}

// changeNoticer is implemented by stores whose changes a running Caddy sees
// only after a moment, unlike a database's, which it reads on every request;
// the notice, printed after every change, says when.
type changeNoticer interface {
	changeNotice() string
}

// openTimeout bounds how long opening a database may take, as provisioning
// bounds it, so that an unreachable server fails the command promptly.
const openTimeout = 10 * time.Second

// openStore opens the repository at loc. A SQL database is opened with
// reposql.Open, which applies pending migrations, so the command line can
// prepare a database before Caddy first runs on it. Errors never contain a
// DSN.
func openStore(ctx context.Context, loc Location) (store, error) {
	switch loc.Backend {
	case BackendSQL:
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		s, err := reposql.Open(ctx, loc.Driver, loc.DSN)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", loc, err)
		}
		return s, nil
	case BackendFile:
		return openFileStore(loc.Path)
	}
	return nil, fmt.Errorf("unknown repository backend %q (want sql or file)", loc.Backend)
}

// Interface guard.
var _ store = (*reposql.Store)(nil)
