package caddyoauth2

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/spf13/cobra"

	"github.com/caddy-oauth2/caddy-oauth2/internal/manage"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "oauth2",
		Usage: "client|user|scope|keygen ...",
		Short: "Manages the clients, users and scopes of oauth2_token, and makes signing keys",
		Long: `
Manages what the oauth2_token handler reads from its repository, without
editing a database or a JSON file by hand:

    caddy oauth2 client add|list|show|remove|rotate-secret
    caddy oauth2 user   add|list|remove|set-password
    caddy oauth2 scope  add|list|remove
    caddy oauth2 keygen

The repository is found in the config (--config, as for 'caddy run') or named
with --repository "sql <driver> <dsn>" or --repository "file <path>". Run
'caddy oauth2 <command> --help' for details.
`,
		CobraFunc: func(cmd *cobra.Command) {
			manage.Setup(cmd, commandEnv())
		},
	})
}

// commandEnv is what the oauth2 commands need of Caddy: config loading as
// `caddy run` does it, the placeholders provisioning resolves, the default
// repository, and the hash `caddy hash-password` makes (bcrypt at Caddy's
// default cost).
func commandEnv() manage.Env {
	return manage.Env{
		LoadConfig: func(file, adapter string) ([]byte, error) {
			cfg, _, _, err := caddycmd.LoadConfig(file, adapter)
			return cfg, err
		},
		Replace: func(s string) string { return caddy.NewReplacer().ReplaceKnown(s, "") },
		DefaultRepository: func() manage.Location {
			driver, dsn := defaultSQLite()
			return manage.Location{Backend: manage.BackendSQL, Driver: driver, DSN: dsn}
		},
		Hash: caddyauth.BcryptHash{}.Hash,
	}
}
