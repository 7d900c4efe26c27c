package caddyoauth2

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/spf13/cobra"

	"github.com/caddy-oauth2/caddy-oauth2/internal/manage"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth2",
		Usage: "client|user|scope|revoke|key|keygen ...",
		Short: "Manages the clients, users and scopes of oauth2_server and oauth2_token, revokes tokens, and manages signing keys",
		Long: `
Manages what the oauth2_server and oauth2_token handlers read from their
repository, without editing a database or a JSON file by hand, revokes
tokens, and manages the signing keys:

    caddy oauth2 client add|list|show|update|remove|rotate-secret
    caddy oauth2 user   add|list|remove|set-password
    caddy oauth2 scope  add|list|remove
    caddy oauth2 revoke --user <id> | --client <id>
    caddy oauth2 key    list|rotate [--now]
    caddy oauth2 keygen

The repository is found in the config (--config, as for 'caddy run') or named
with --repository "sql <driver> <dsn>" or --repository "file <path>"; the
generated keys are in the config's storage. Run 'caddy oauth2 <command> --help'
for details.
`,
		CobraFunc: func(cmd *cobra.Command) {
			manage.Setup(cmd, commandEnv())
			cmd.AddCommand(keyCommand())
		},
	})
}

// commandEnv is what the oauth2 commands need of Caddy: config loading as
// `caddy run` does it, the repository of each handler as provisioning reads
// it, the --repository flag parsed as the Caddyfile's repository
// subdirective, and the hash `caddy hash-password` makes (bcrypt at Caddy's
// default cost).
func commandEnv() manage.Env {
	return manage.Env{
		LoadConfig: func(file, adapter string) ([]byte, error) {
			cfg, _, _, err := caddycmd.LoadConfig(file, adapter)
			return cfg, err
		},
		Repositories:    configRepositories,
		ParseRepository: repositoryFromFlag,
		Hash:            caddyauth.BcryptHash{}.Hash,
	}
}

// handlerNames are the "handler" values of this package's handlers in a
// JSON config.
var handlerNames = []string{handlerName(TokenHandler{}), handlerName(ServerHandler{})}

// handlerName is a handler module's "handler" value: the last label of its ID.
func handlerName(m caddy.Module) string {
	return m.CaddyModule().ID.Name()
}

// configRepositories returns the repository of every oauth2 handler of a JSON
// config, wherever it sits (any app, route or subroute), in a stable order.
// Each handler is decoded into its own type and its repository located as
// Provision would open it, so the commands and the server cannot disagree.
func configRepositories(config []byte) ([]manage.Location, error) {
	var root any
	if err := json.Unmarshal(config, &root); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var handlers []map[string]any
	walkJSON(root, func(obj map[string]any) {
		if name, ok := obj["handler"].(string); ok && slices.Contains(handlerNames, name) {
			handlers = append(handlers, obj)
		}
	})
	repl := caddy.NewReplacer()
	locations := make([]manage.Location, 0, len(handlers))
	for i, obj := range handlers {
		raw, _ := json.Marshal(obj) // decoded from JSON, it encodes again
		var h TokenHandler
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("%s handler %d of the config: %w", obj["handler"], i+1, err)
		}
		loc, err := repositoryLocation(h.RepositoryRaw, repl)
		if err != nil {
			return nil, fmt.Errorf("%s handler %d of the config: repository: %w", obj["handler"], i+1, err)
		}
		locations = append(locations, loc)
	}
	return locations, nil
}

// walkJSON calls visit for every object in v, depth first, the members of an
// object in the order of their keys so that handlers are numbered the same
// way every time.
func walkJSON(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walkJSON(v[k], visit)
		}
	case []any:
		for _, child := range v {
			walkJSON(child, visit)
		}
	}
}

// repositoryFromFlag parses the --repository flag with the Caddyfile parser
// of the repository subdirective, so the flag takes what a Caddyfile takes
// ("sql <driver> <dsn>", "file <path>", quoted or not), and locates it as
// configRepositories does.
func repositoryFromFlag(spec string) (manage.Location, error) {
	tokens, err := caddyfile.Tokenize([]byte("repository "+quoteLastArgument(spec)), "--repository")
	if err != nil {
		return manage.Location{}, errRepositoryFlag
	}
	d := caddyfile.NewDispenser(tokens)
	d.Next()
	var h TokenHandler
	if err := h.unmarshalRepository(d); err != nil || d.Next() {
		// The parser's message may quote a word of the value, which may
		// be a DSN with a password in it.
		return manage.Location{}, errRepositoryFlag
	}
	return repositoryLocation(h.RepositoryRaw, caddy.NewReplacer())
}

// quoteLastArgument quotes the DSN or path at the end of an unquoted
// --repository value: the flag has always taken the rest of the value as the
// DSN (`sql postgres host=db user=caddy`), which a Caddyfile would read as
// several arguments. A value with quotes in it is left as written.
func quoteLastArgument(spec string) string {
	if strings.ContainsAny(spec, "\"`") {
		return spec
	}
	backend, rest := cutWord(spec)
	words := 1 // file <path>
	if backend == "sql" {
		words = 2 // sql <driver> <dsn>
	}
	prefix := backend
	for range words - 1 {
		var word string
		word, rest = cutWord(rest)
		prefix += " " + word
	}
	if !strings.ContainsAny(rest, " \t") {
		return spec
	}
	return prefix + " `" + rest + "`"
}

// cutWord splits s into its first space-separated word and the trimmed rest.
func cutWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// errRepositoryFlag is a --repository value that does not parse. It does not
// repeat the value, which may hold a DSN.
var errRepositoryFlag = errors.New(`want "sql <driver> <dsn>" or "file <path>"`)
