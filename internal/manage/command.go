package manage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Env is what the commands need of Caddy; the root package fills it in.
type Env struct {
	// LoadConfig reads and adapts a config file as `caddy run` does (an
	// empty file means ./Caddyfile if there is one) and returns its JSON,
	// or nil when there is no config.
	LoadConfig func(file, adapter string) ([]byte, error)
	// Replace resolves placeholders such as {env.NAME} in a DSN or path,
	// as provisioning does.
	Replace func(string) string
	// DefaultRepository is the repository of a handler that names none.
	DefaultRepository func() Location
	// Hash hashes client secrets and passwords.
	Hash HashFunc
}

// Setup adds the client, user, scope and keygen commands to cmd, the
// `caddy oauth2` command.
func Setup(cmd *cobra.Command, env Env) {
	cmd.AddCommand(clientCommand(env), userCommand(env), scopeCommand(env), keygenCommand())
}

// repositoryHelp is the part of every client, user and scope command's help
// that says how the repository is found.
const repositoryHelp = `
The repository is the one the oauth2_token handlers of the config use: give
the config with --config (and --adapter) as to 'caddy run'; without them,
./Caddyfile is used if there is one. Or name the repository directly, in the
words of the Caddyfile:

    --repository "sql sqlite /var/lib/caddy/oauth2.db"
    --repository "sql postgres {env.DATABASE_URL}"
    --repository "file /etc/caddy/oauth2.json"

Placeholders such as {env.DATABASE_URL} are resolved, which keeps a password
out of the shell history and the process list. A SQL
repository's changes apply at once; a definitions file is read by Caddy when
it loads its config, so run 'caddy reload' after changing it.
`

// repositoryFlags adds the flags that locate the repository.
func repositoryFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringP("config", "c", "", "Caddy config file whose oauth2_token handlers name the repository")
	f.StringP("adapter", "a", "", "Name of the config adapter, as for 'caddy run'")
	f.StringP("repository", "r", "", `The repository itself: "sql <driver> <dsn>" or "file <path>"`)
}

// locate finds the repository from the flags.
func (e Env) locate(cmd *cobra.Command) (Location, error) {
	flags := cmd.Flags()
	if spec, _ := flags.GetString("repository"); spec != "" {
		loc, err := ParseLocation(spec)
		if err != nil {
			return Location{}, err
		}
		return loc.resolve(e.Replace), nil
	}
	config, _ := flags.GetString("config")
	adapter, _ := flags.GetString("adapter")
	cfg, err := e.LoadConfig(config, adapter)
	if err != nil {
		return Location{}, err
	}
	if len(cfg) == 0 {
		return Location{}, errors.New("no config: name the Caddyfile with --config, or the repository with --repository")
	}
	return FindInConfig(cfg, e.DefaultRepository(), e.Replace)
}

// run returns a cobra RunE that opens the repository, runs f with a Manager
// on it, and closes it.
func (e Env) run(f func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) (err error) {
		loc, err := e.locate(cmd)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		store, err := OpenStore(ctx, loc)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Using the %s.\n", loc)
		defer func() {
			if cerr := store.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("closing %s: %w", loc, cerr)
			}
		}()
		m := &Manager{Store: store, Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr(), Hash: e.Hash}
		return f(ctx, m, cmd, args)
	}
}

// listFlag returns the values of a list flag: nil when it is not given (no
// restriction), an empty list when it is given empty (--scopes "", nothing
// allowed). Values may be separated by commas, or by spaces as in the
// Caddyfile.
func listFlag(cmd *cobra.Command, name string) []string {
	if !cmd.Flags().Changed(name) {
		return nil
	}
	raw, _ := cmd.Flags().GetStringSlice(name)
	out := []string{}
	for _, v := range raw {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// args checks the positional arguments against their names, for messages
// clearer than cobra's "accepts 1 arg(s)".
func args(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return fmt.Errorf("missing %s (usage: %s)", names[len(args)], cmd.UseLine())
		}
		if len(args) > len(names) {
			return fmt.Errorf("unexpected argument %q (usage: %s)", args[len(names)], cmd.UseLine())
		}
		return nil
	}
}

// passwordFrom returns a PasswordFunc that reads from the command's
// standard input, prompting on its standard error.
func passwordFrom(cmd *cobra.Command, what string) PasswordFunc {
	return func() ([]byte, error) { return ReadPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), what) }
}

func clientCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Adds, lists, shows and removes OAuth clients, and rotates their secrets",
		Long: `
Manages the OAuth clients of the repository.

A confidential client (the default) authenticates with a secret, which is
generated: 32 random bytes in base64url, printed once to the standard output
and stored only as a bcrypt hash. A public client (--public) has none.

Lists: not giving --grants, --scopes or --default-scope leaves the client
unrestricted (every grant the directive enables, every scope, the directive's
default_scope); giving one empty ("") allows nothing. Values are separated by
commas or spaces. Every scope must be declared first ('caddy oauth2 scope add').
` + repositoryHelp,
	}
	repositoryFlags(cmd)

	add := &cobra.Command{
		Use:   "add <id> [--name <name>] [--grants <grant,...>] [--scopes <scope,...>] [--default-scope <scope,...>] [--public]",
		Short: "Adds a client; prints a confidential client's generated secret",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			public, _ := cmd.Flags().GetBool("public")
			return m.AddClient(ctx, ClientSpec{
				ID:           args[0],
				Name:         name,
				Grants:       listFlag(cmd, "grants"),
				Scopes:       listFlag(cmd, "scopes"),
				DefaultScope: listFlag(cmd, "default-scope"),
				Public:       public,
			})
		}),
	}
	add.Flags().String("name", "", "Name of the client, for people")
	add.Flags().StringSlice("grants", nil, "Grants the client may use: refresh_token, password, client_credentials (default: every enabled grant)")
	add.Flags().StringSlice("scopes", nil, "Scopes the client may request (default: every scope)")
	add.Flags().StringSlice("default-scope", nil, "Scopes granted when a request names none (default: the directive's default_scope)")
	add.Flags().Bool("public", false, "Add a public client, without a secret")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the clients",
		Args:  args(),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, _ []string) error {
			return m.ListClients(ctx)
		}),
	}
	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Shows a client, without its secret",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, args []string) error {
			return m.ShowClient(ctx, args[0])
		}),
	}
	remove := &cobra.Command{
		Use:   "remove <id>",
		Short: "Removes a client; its refresh tokens stop working",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, args []string) error {
			return m.RemoveClient(ctx, args[0])
		}),
	}
	rotate := &cobra.Command{
		Use:   "rotate-secret <id>",
		Short: "Gives a confidential client a new generated secret and prints it",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, args []string) error {
			return m.RotateClientSecret(ctx, args[0])
		}),
	}
	cmd.AddCommand(add, list, show, remove, rotate)
	return cmd
}

func userCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Adds, lists and removes users of the password grant, and sets their passwords",
		Long: `
Manages the users (resource owners) of the password grant.

Passwords are read from the terminal without echo, twice; when the standard
input is not a terminal, its first line is the password, so a script can pipe
it in. They are stored only as bcrypt hashes.

A user's id is the sub claim of its access tokens. Without --id, a random
UUID is generated. --scopes limits what the password grant may give on the
user's behalf (default: every scope; "" allows none).
` + repositoryHelp,
	}
	repositoryFlags(cmd)

	add := &cobra.Command{
		Use:   "add <username> [--id <id>] [--scopes <scope,...>]",
		Short: "Adds a user; reads the password",
		Args:  args("<username>"),
		RunE: env.run(func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error {
			id, _ := cmd.Flags().GetString("id")
			spec := UserSpec{Username: args[0], ID: id, Scopes: listFlag(cmd, "scopes")}
			return m.AddUser(ctx, spec, passwordFrom(cmd, "password"))
		}),
	}
	add.Flags().String("id", "", "The user's id, the sub claim of its tokens (default: a random UUID)")
	add.Flags().StringSlice("scopes", nil, "Scopes the password grant may give for the user (default: every scope)")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the users",
		Args:  args(),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, _ []string) error {
			return m.ListUsers(ctx)
		}),
	}
	remove := &cobra.Command{
		Use:   "remove <username>",
		Short: "Removes a user",
		Args:  args("<username>"),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, args []string) error {
			return m.RemoveUser(ctx, args[0])
		}),
	}
	setPassword := &cobra.Command{
		Use:   "set-password <username>",
		Short: "Sets a user's password; reads it like add",
		Args:  args("<username>"),
		RunE: env.run(func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error {
			return m.SetUserPassword(ctx, args[0], passwordFrom(cmd, "password"))
		}),
	}
	cmd.AddCommand(add, list, remove, setPassword)
	return cmd
}

func scopeCommand(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scope",
		Short: "Adds, lists and removes scopes",
		Long: `
Manages the scopes that clients may request. A scope id is a scope-token of
RFC 6749 §3.3: printable ASCII other than space, " and \.

A scope that clients or users still name is not removed unless --force is
given; then it is taken out of their lists too, which narrows what they may
do (a list left empty allows nothing).
` + repositoryHelp,
	}
	repositoryFlags(cmd)

	add := &cobra.Command{
		Use:   "add <id> [--description <text>]",
		Short: "Declares a scope",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error {
			desc, _ := cmd.Flags().GetString("description")
			return m.AddScope(ctx, args[0], desc)
		}),
	}
	add.Flags().String("description", "", "What the scope allows, for people")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the scopes",
		Args:  args(),
		RunE: env.run(func(ctx context.Context, m *Manager, _ *cobra.Command, _ []string) error {
			return m.ListScopes(ctx)
		}),
	}
	remove := &cobra.Command{
		Use:   "remove <id> [--force]",
		Short: "Removes a scope",
		Args:  args("<id>"),
		RunE: env.run(func(ctx context.Context, m *Manager, cmd *cobra.Command, args []string) error {
			force, _ := cmd.Flags().GetBool("force")
			return m.RemoveScope(ctx, args[0], force)
		}),
	}
	remove.Flags().Bool("force", false, "Also take the scope out of the clients and users that name it")
	cmd.AddCommand(add, list, remove)
	return cmd
}

func keygenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen [--type ec|rsa|ed25519] [--bits <n>] [--out <file>] [--public-out <file>] [--encrypt] [--force]",
		Short: "Generates a key pair for signing access tokens",
		Long: `
Generates a private key for the private_key subdirective, and its public key
for resource servers that verify tokens offline, as PEM files:

    ec        ECDSA P-256, tokens signed ES256 (the default: fast, small)
    ed25519   Ed25519, tokens signed EdDSA
    rsa       RSA, tokens signed RS256; --bits sets the size (default 3072)

The private key is PKCS#8 in a file of mode 0600. With --encrypt it is
encrypted (PBES2: AES-256-CBC, PBKDF2-SHA256) with a passphrase read like a
password: twice from the terminal, or the first line of the standard input.
Give the passphrase as private_key's second argument, e.g. from
{env.OAUTH2_KEY_PASSPHRASE}.

Existing files are not replaced unless --force is given: replacing the signing
key invalidates every access token signed with the old one.
`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			opts := KeyOptions{}
			opts.Type, _ = flags.GetString("type")
			opts.Bits, _ = flags.GetInt("bits")
			opts.PrivatePath, _ = flags.GetString("out")
			opts.PublicPath, _ = flags.GetString("public-out")
			opts.Force, _ = flags.GetBool("force")
			if opts.Type != KeyRSA && flags.Changed("bits") {
				return errors.New("--bits is for --type rsa")
			}
			if encrypt, _ := flags.GetBool("encrypt"); encrypt {
				p, err := ReadPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), "passphrase")
				if err != nil {
					return err
				}
				opts.Passphrase = p
			}
			info, err := GenerateKey(opts)
			if err != nil {
				return err
			}
			printKeyInfo(cmd, info, opts.Passphrase != nil)
			return nil
		},
	}
	cmd.Flags().StringP("type", "t", KeyEC, "Key type: ec, rsa or ed25519")
	cmd.Flags().Int("bits", DefaultRSABits, "Size of an RSA key")
	cmd.Flags().StringP("out", "o", "oauth2.pem", "Private key file")
	cmd.Flags().String("public-out", "", "Public key file (default: the private key's name with .pub.pem)")
	cmd.Flags().Bool("encrypt", false, "Encrypt the private key with a passphrase")
	cmd.Flags().BoolP("force", "f", false, "Replace existing files")
	return cmd
}

// printKeyInfo tells the user what keygen wrote and how to use it.
func printKeyInfo(cmd *cobra.Command, info *KeyInfo, encrypted bool) {
	w := cmd.ErrOrStderr()
	state := "mode 0600"
	if encrypted {
		state += ", encrypted"
	}
	fmt.Fprintf(w, "Wrote a signing key for %s tokens (kid %s):\n", info.Algorithm, info.KeyID)
	fmt.Fprintf(w, "  private key: %s (%s)\n", info.PrivatePath, state)
	fmt.Fprintf(w, "  public key:  %s\n", info.PublicPath)
	path := info.PrivatePath
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if encrypted {
		fmt.Fprintf(w, "Use it in the oauth2_token directive with:\n  private_key %s {env.OAUTH2_KEY_PASSPHRASE}\n", path)
	} else {
		fmt.Fprintf(w, "Use it in the oauth2_token directive with:\n  private_key %s\n", path)
	}
}
