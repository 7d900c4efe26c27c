package manage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The Location.Backend values: a SQL database or a definitions file.
const (
	BackendSQL  = "sql"
	BackendFile = "file"
)

// Location says where a handler's clients, users and scopes are kept: a SQL
// database (Driver and DSN) or a definitions file (Path), with placeholders
// resolved, and where its token state is, which the commands revoke tokens
// in. The root package makes them from a config or the --repository flag,
// since it owns the repository's Caddyfile and JSON forms.
type Location struct {
	// Backend is BackendSQL or BackendFile.
	Backend string
	// Driver is the SQL driver's name, as reposql.Open takes it.
	Driver string
	// DSN is the SQL data source name. It may hold a password, which is why
	// String leaves out a server database's.
	DSN string
	// Path is the definitions file.
	Path string
	// TokenDriver and TokenDSN name the SQL database that keeps a definitions
	// file's token state: its tokens subdirective's, or the default SQLite
	// database. A SQL repository keeps its token state in itself.
	TokenDriver, TokenDSN string
}

// String describes the location for messages. It never includes the DSN of
// a server database, which may hold a password; a SQLite DSN is a file path,
// and which file was changed is what the user needs to know (the default one
// lies under the data directory of the user running the command, who may not
// be the user Caddy runs as).
func (l Location) String() string {
	switch {
	case l.Backend == BackendFile:
		return "definitions file " + l.Path
	case l.Driver == "sqlite":
		return "sqlite database " + l.DSN
	}
	return l.Driver + " database"
}

// tokenLocation returns where the repository keeps its token state: in
// itself for a SQL repository, in the database that TokenDriver and TokenDSN
// name for a definitions file.
func (l Location) tokenLocation() (Location, error) {
	switch {
	case l.Backend == BackendSQL:
		return l, nil
	case l.TokenDriver == "":
		return Location{}, fmt.Errorf(`the token state of the %s is unknown; name its database with --repository "sql <driver> <dsn>"`, l)
	}
	return Location{Backend: BackendSQL, Driver: l.TokenDriver, DSN: l.TokenDSN}, nil
}

// chooseRepository picks the one repository that the handlers of a config
// use, one Location per handler. Locations come with placeholders resolved,
// so handlers that name one repository in different words count as one. With
// no handler, or handlers that disagree, the user has to name the repository
// with --repository.
func chooseRepository(handlers []Location) (Location, error) {
	if len(handlers) == 0 {
		return Location{}, errors.New("the config has no oauth2_server or oauth2_token handler; name the repository with --repository")
	}
	var found []Location
	for _, loc := range handlers {
		if !slices.Contains(found, loc) {
			found = append(found, loc)
		}
	}
	if len(found) > 1 {
		names := make([]string, len(found))
		for i, l := range found {
			names[i] = l.String()
		}
		return Location{}, fmt.Errorf("the config's oauth2 handlers use %d different repositories (%s); choose one with --repository",
			len(found), strings.Join(names, "; "))
	}
	return found[0], nil
}
