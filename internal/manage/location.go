package manage

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// BackendSQL is the Location.Backend of a SQL database, as the Caddyfile and
// the JSON config name it. The root package needs it because the default
// repository, that of a handler which names none, is one.
const BackendSQL = "sql"

// backendFile is the Location.Backend of a definitions file. Only a config or
// --repository names one, so it stays in this package.
const backendFile = "file"

// handlerName is the "handler" value of an oauth2_token handler in a JSON
// config.
const handlerName = "oauth2_token"

// Location says where a handler's clients, users and scopes are kept: a SQL
// database (Driver and DSN) or a definitions file (Path). The token store of
// a file repository is no concern of the commands, so it is not kept.
type Location struct {
	// Backend is BackendSQL, or "file" for a definitions file.
	Backend string
	// Driver is the SQL driver's name, as reposql.Open takes it.
	Driver string
	// DSN is the SQL data source name. It may hold a password, which is why
	// String leaves out a server database's.
	DSN string
	// Path is the definitions file.
	Path string
}

// String describes the location for messages. It never includes the DSN of
// a server database, which may hold a password; a SQLite DSN is a file path,
// and which file was changed is what the user needs to know (the default one
// lies under the data directory of the user running the command, who may not
// be the user Caddy runs as).
func (l Location) String() string {
	switch {
	case l.Backend == backendFile:
		return "definitions file " + l.Path
	case l.Driver == "sqlite":
		return "sqlite database " + l.DSN
	}
	return l.Driver + " database"
}

// resolve returns the location with placeholders in its DSN and path
// replaced, as provisioning replaces them.
func (l Location) resolve(replace func(string) string) Location {
	if replace != nil {
		l.DSN, l.Path = replace(l.DSN), replace(l.Path)
	}
	return l
}

// errRepositorySyntax is the error of a malformed --repository value; it does
// not repeat the value, which may hold a DSN.
var errRepositorySyntax = errors.New(`--repository: want "sql <driver> <dsn>" or "file <path>"`)

// parseLocation parses the --repository flag, written as in the Caddyfile:
// "sql <driver> <dsn>" or "file <path>". The DSN or path is the rest of the
// value after the words before it, so it may contain spaces (a PostgreSQL
// key=value DSN does). The driver is not checked here: the SQL package
// knows which it supports.
func parseLocation(spec string) (Location, error) {
	backend, rest := cutWord(spec)
	switch backend {
	case BackendSQL:
		driver, dsn := cutWord(rest)
		if driver == "" || dsn == "" {
			return Location{}, errRepositorySyntax
		}
		return Location{Backend: BackendSQL, Driver: driver, DSN: dsn}, nil
	case backendFile:
		if rest == "" {
			return Location{}, errRepositorySyntax
		}
		return Location{Backend: backendFile, Path: rest}, nil
	}
	return Location{}, errRepositorySyntax
}

// cutWord splits s into its first space-separated word and the trimmed rest.
func cutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// repositoryJSON is the "repository" object of an oauth2_token handler in a
// JSON config (the SQL and file repository modules' fields together).
type repositoryJSON struct {
	Backend string `json:"backend"`
	Driver  string `json:"driver"`
	DSN     string `json:"dsn"`
	Path    string `json:"path"`
}

// findInConfig finds the repository of the oauth2_token handlers of a JSON
// Caddy config, wherever in the config they are (any app, route or
// subroute). A handler without a repository uses def, as provisioning does.
// Placeholders are resolved with replace before locations are compared, so
// handlers that name one repository in different words count as one. It
// fails when there is no handler, or when the handlers use different
// repositories: then the user has to name one with --repository.
func findInConfig(config []byte, def Location, replace func(string) string) (Location, error) {
	var root any
	if err := json.Unmarshal(config, &root); err != nil {
		return Location{}, fmt.Errorf("reading config: %w", err)
	}
	// One entry per handler; nil for a handler without a repository.
	var objects []any
	walk(root, func(obj map[string]any) {
		if obj["handler"] == handlerName {
			objects = append(objects, obj["repository"])
		}
	})
	if len(objects) == 0 {
		return Location{}, errors.New("the config has no oauth2_token handler; name the repository with --repository")
	}

	var found []Location
	for i, repo := range objects {
		loc, err := decodeRepository(repo, def)
		if err != nil {
			return Location{}, fmt.Errorf("oauth2_token handler %d of the config: %w", i+1, err)
		}
		if loc = loc.resolve(replace); !slices.Contains(found, loc) {
			found = append(found, loc)
		}
	}
	if len(found) > 1 {
		names := make([]string, len(found))
		for i, l := range found {
			names[i] = l.String()
		}
		return Location{}, fmt.Errorf("the config's oauth2_token handlers use %d different repositories (%s); choose one with --repository",
			len(found), strings.Join(names, "; "))
	}
	return found[0], nil
}

// decodeRepository turns a handler's repository object, as decoded into an
// any, into a Location; nil is a handler without one.
func decodeRepository(repo any, def Location) (Location, error) {
	if repo == nil {
		return def, nil
	}
	// Decoded from JSON, repo encodes again without fail.
	raw, _ := json.Marshal(repo)
	var r repositoryJSON
	if err := json.Unmarshal(raw, &r); err != nil {
		return Location{}, fmt.Errorf("repository: %w", err)
	}
	switch r.Backend {
	case BackendSQL:
		if r.Driver == "" && r.DSN == "" {
			return def, nil
		}
		if r.Driver == "" || r.DSN == "" {
			return Location{}, errors.New("repository: sql needs a driver and a dsn")
		}
		return Location{Backend: BackendSQL, Driver: r.Driver, DSN: r.DSN}, nil
	case backendFile:
		if r.Path == "" {
			return Location{}, errors.New("repository: file needs a path")
		}
		return Location{Backend: backendFile, Path: r.Path}, nil
	}
	return Location{}, fmt.Errorf("repository: unknown backend %q (want sql or file)", r.Backend)
}

// walk calls visit for every JSON object in v, depth first, the members of
// an object in the order of their keys so that handlers are numbered the
// same way every time.
func walk(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walk(v[k], visit)
		}
	case []any:
		for _, child := range v {
			walk(child, visit)
		}
	}
}
