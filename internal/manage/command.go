package manage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/spf13/cobra"
)

// Env is what the commands need of Caddy. The root package fills it in, so
// that this package does not import Caddy's command line and its tests run
// without a Caddy process.
type Env struct {
	// LoadConfig reads and adapts a config file as `caddy run` does (an
	// empty file means ./Caddyfile if there is one) and returns its JSON,
	// or nil when there is no config.
	LoadConfig func(file, adapter string) ([]byte, error)
	// Repositories returns the repository of each oauth2 handler of a JSON
	// config, as provisioning would open it: defaults applied and
	// placeholders such as {env.NAME} resolved, so that a command opens the
	// repository the handler opens.
	Repositories func(config []byte) ([]Location, error)
	// ParseRepository parses the --repository flag, the arguments of the
	// Caddyfile's repository subdirective ("sql <driver> <dsn>" or
	// "file <path>"), placeholders resolved.
	ParseRepository func(spec string) (Location, error)
	// Hash hashes client secrets and passwords into a format the
	// repositories store. In Caddy it is caddyauth.BcryptHash's Hash, as
	// `caddy hash-password` uses; tests pass a cheaper bcrypt cost.
	Hash func(plaintext []byte) ([]byte, error)
}

// Setup adds the client, user, scope, revoke and keygen commands to cmd, the
// `caddy oauth2` command.
func Setup(cmd *cobra.Command, env Env) {
	cmd.AddCommand(clientCommand(env), userCommand(env), scopeCommand(env), revokeCommand(env), keygenCommand())
}

func clientCommand(env Env) *cobra.Command {
	add := env.subcommand("add <id> [--name <name>] [--grants <grant,...>] [--scopes <scope,...>] [--default-scope <scope,...>] [--public] [--introspect]",
		"Adds a client; prints a confidential client's generated secret",
		func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			public, _ := cmd.Flags().GetBool("public")
			introspect, _ := cmd.Flags().GetBool("introspect")
			return m.addClient(ctx, clientSpec{
				id:           args[0],
				name:         name,
				grants:       listFlag(cmd, "grants"),
				scopes:       listFlag(cmd, "scopes"),
				defaultScope: listFlag(cmd, "default-scope"),
				public:       public,
				introspect:   introspect,
			})
		})
	clientFlags(add)
	add.Flags().Bool("public", false, "Add a public client, without a secret")
	add.Flags().Bool("introspect", false, "Let the client introspect every token, not only its own")

	update := env.subcommand("update <id> [--name <name>] [--grants <grant,...>] [--scopes <scope,...>] [--default-scope <scope,...>] "+
		"[--unrestrict <list,...>] [--introspect | --no-introspect]",
		"Changes a client's settings, keeping its secret",
		func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
			u, err := clientUpdateFlags(cmd)
			if err != nil {
				return err
			}
			return m.updateClient(ctx, args[0], u)
		})
	clientFlags(update)
	update.Flags().StringSlice("unrestrict", nil, "Lift the restriction of these lists: grants, scopes, default-scope")
	update.Flags().Bool("introspect", false, "Let the client introspect every token")
	update.Flags().Bool("no-introspect", false, "Let the client introspect only its own tokens")

	return repositoryCommand("client", "Adds, lists, shows, updates and removes OAuth clients, and rotates their secrets", `
Manages the OAuth clients of the repository.

A confidential client (the default) authenticates with a secret, which is
generated: 32 random bytes in base64url, printed once to the standard output
and stored only as a bcrypt hash. A public client (--public) has none.

Lists: not giving --grants, --scopes or --default-scope leaves the client
unrestricted (every grant the directive enables, every scope, the directive's
default_scope); giving one empty ("") allows nothing. Values are separated by
commas or spaces. Every scope must be declared first ('caddy oauth2 scope add').

update changes only what its flags name; --unrestrict lifts a list's
restriction. --introspect lets a confidential client introspect every token
(RFC 7662), as a resource server checking all clients' tokens needs; without
it a client introspects only its own.

rotate-secret and remove revoke the client's tokens (every token family it
holds) unless --keep-tokens is given: a secret is rotated, or a client
removed, when it must lose its access.
`,
		add,
		env.subcommand("list", "Lists the clients", withoutArgs((*manager).listClients)),
		env.subcommand("show <id>", "Shows a client, without its secret", withArg((*manager).showClient)),
		update,
		keepTokensFlag(env.subcommand("remove <id> [--keep-tokens]", "Removes a client and revokes its tokens",
			withArgKeepingTokens((*manager).removeClient))),
		keepTokensFlag(env.subcommand("rotate-secret <id> [--keep-tokens]",
			"Gives a confidential client a new generated secret, prints it, and revokes the client's tokens",
			withArgKeepingTokens((*manager).rotateClientSecret))),
	)
}

// clientFlags adds the flags of a client's settings that add and update
// share.
func clientFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("name", "", "Name of the client, for people")
	f.StringSlice("grants", nil, "Grants the client may use: "+strings.Join(repos.GrantTypes(), ", ")+" (default: every enabled grant)")
	f.StringSlice("scopes", nil, "Scopes the client may request (default: every scope)")
	f.StringSlice("default-scope", nil, "Scopes granted when a request names none (default: the directive's default_scope)")
}

// clientUpdateFlags reads the flags of client update: those given, and only
// those, are changes.
func clientUpdateFlags(cmd *cobra.Command) (clientUpdate, error) {
	flags := cmd.Flags()
	var u clientUpdate
	if flags.Changed("name") {
		name, _ := flags.GetString("name")
		u.name = &name
	}
	lists := map[string]**[]string{"grants": &u.grants, "scopes": &u.scopes, "default-scope": &u.defaultScope}
	for flag, field := range lists {
		if flags.Changed(flag) {
			l := listFlag(cmd, flag)
			*field = &l
		}
	}
	for _, flag := range listFlag(cmd, "unrestrict") {
		field, ok := lists[flag]
		switch {
		case !ok:
			return clientUpdate{}, fmt.Errorf("--unrestrict: unknown list %q (want grants, scopes or default-scope)", flag)
		case flags.Changed(flag):
			return clientUpdate{}, fmt.Errorf("--unrestrict %s and --%s: give one of them", flag, flag)
		}
		*field = new([]string) // points to a nil list: no restriction
	}
	on, off := flags.Changed("introspect"), flags.Changed("no-introspect")
	switch {
	case on && off:
		return clientUpdate{}, errors.New("--introspect and --no-introspect: give one of them")
	case on || off:
		u.introspect = &on
	}
	return u, nil
}

func userCommand(env Env) *cobra.Command {
	add := env.subcommand("add <username> [--id <id>] [--scopes <scope,...>]", "Adds a user; reads the password",
		func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
			id, _ := cmd.Flags().GetString("id")
			spec := userSpec{username: args[0], id: id, scopes: listFlag(cmd, "scopes")}
			return m.addUser(ctx, spec, passwordFrom(cmd, "password"))
		})
	add.Flags().String("id", "", "The user's id, the sub claim of its tokens (default: a random UUID)")
	add.Flags().StringSlice("scopes", nil, "Scopes the password grant may give for the user (default: every scope)")

	return repositoryCommand("user", "Adds, lists and removes users of the password grant, and sets their passwords", `
Manages the users (resource owners) of the password grant.

Passwords are read from the terminal without echo, twice; when the standard
input is not a terminal, its first line is the password, so a script can pipe
it in. They are stored only as bcrypt hashes.

A user's id is the sub claim of its access tokens. Without --id, a random
UUID is generated. --scopes limits what the password grant may give on the
user's behalf (default: every scope; "" allows none).

set-password and remove revoke the user's tokens (every token family it
holds) unless --keep-tokens is given: a password is changed, or a user
removed, when the old access must end.
`,
		add,
		env.subcommand("list", "Lists the users", withoutArgs((*manager).listUsers)),
		keepTokensFlag(env.subcommand("remove <username> [--keep-tokens]", "Removes a user and revokes its tokens",
			withArgKeepingTokens((*manager).removeUser))),
		keepTokensFlag(env.subcommand("set-password <username> [--keep-tokens]",
			"Sets a user's password, read like add's, and revokes the user's tokens",
			func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
				keep, _ := cmd.Flags().GetBool("keep-tokens")
				return m.setUserPassword(ctx, args[0], passwordFrom(cmd, "password"), keep)
			})),
	)
}

// revokeCommand is `caddy oauth2 revoke`, which revokes every token of a user
// or a client: for a stolen device, say, when the password itself is safe.
func revokeCommand(env Env) *cobra.Command {
	cmd := env.subcommand("revoke (--user <id> | --client <id>)", "Revokes every token of a user or a client",
		func(ctx context.Context, m *manager, cmd *cobra.Command, _ []string) error {
			user, _ := cmd.Flags().GetString("user")
			client, _ := cmd.Flags().GetString("client")
			if (user == "") == (client == "") {
				return errors.New("give --user <id> or --client <id>, one of them")
			}
			return m.revoke(ctx, repos.FamilyOwner{UserID: user, ClientID: client})
		})
	cmd.Long = `
Revokes every token family of a user (by its id, the sub claim of its tokens)
or of a client: their refresh tokens stop working at once, and their access
tokens are refused wherever revocation is checked (introspection, and
oauth2_bearer's check_revocation); elsewhere they last until they expire.
The user or client itself is left as it is. Access tokens of no family, such
as client_credentials ones, are not recorded and cannot be revoked this way.

user set-password and user remove, and client rotate-secret and client remove,
revoke the same way unless given --keep-tokens.

A definitions file's token state is the SQL database of its repository's
tokens subdirective, or the default SQLite database under Caddy's data
directory; the command says which one it uses.
` + repositoryHelp
	cmd.Flags().String("user", "", "The id of the user whose tokens to revoke")
	cmd.Flags().String("client", "", "The id of the client whose tokens to revoke")
	repositoryFlags(cmd)
	return cmd
}

func scopeCommand(env Env) *cobra.Command {
	add := env.subcommand("add <id> [--description <text>]", "Declares a scope",
		func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
			desc, _ := cmd.Flags().GetString("description")
			return m.addScope(ctx, args[0], desc)
		})
	add.Flags().String("description", "", "What the scope allows, for people")

	remove := env.subcommand("remove <id> [--force]", "Removes a scope",
		func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
			force, _ := cmd.Flags().GetBool("force")
			return m.removeScope(ctx, args[0], force)
		})
	remove.Flags().Bool("force", false, "Also take the scope out of the clients and users that name it")

	return repositoryCommand("scope", "Adds, lists and removes scopes", `
Manages the scopes that clients may request. A scope id is a scope-token of
RFC 6749 §3.3: printable ASCII other than space, " and \.

A scope that clients or users still name is not removed unless --force is
given; then it is taken out of their lists too, which narrows what they may
do (a list left empty allows nothing).
`,
		add,
		env.subcommand("list", "Lists the scopes", withoutArgs((*manager).listScopes)),
		remove,
	)
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
		Args: checkArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := cmd.Flags()
			opts := keyOptions{}
			opts.keyType, _ = flags.GetString("type")
			opts.bits, _ = flags.GetInt("bits")
			opts.privatePath, _ = flags.GetString("out")
			opts.publicPath, _ = flags.GetString("public-out")
			opts.force, _ = flags.GetBool("force")
			if opts.keyType != keyRSA && flags.Changed("bits") {
				return errors.New("--bits is for --type rsa")
			}
			if encrypt, _ := flags.GetBool("encrypt"); encrypt {
				p, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), "passphrase")
				if err != nil {
					return err
				}
				opts.passphrase = p
			}
			info, err := generateKey(opts)
			if err != nil {
				return err
			}
			printKeyInfo(cmd, info, opts.passphrase != nil)
			return nil
		},
	}
	cmd.Flags().StringP("type", "t", keyEC, "Key type: ec, rsa or ed25519")
	cmd.Flags().Int("bits", defaultRSABits, "Size of an RSA key")
	cmd.Flags().StringP("out", "o", "oauth2.pem", "Private key file")
	cmd.Flags().String("public-out", "", "Public key file (default: the private key's name with .pub.pem)")
	cmd.Flags().Bool("encrypt", false, "Encrypt the private key with a passphrase")
	cmd.Flags().BoolP("force", "f", false, "Replace existing files")
	return cmd
}

// printKeyInfo tells the user what keygen wrote and how to use it.
func printKeyInfo(cmd *cobra.Command, info *keyInfo, encrypted bool) {
	w := cmd.ErrOrStderr()
	state := "mode 0600"
	if encrypted {
		state += ", encrypted"
	}
	fmt.Fprintf(w, "Wrote a signing key for %s tokens (kid %s):\n", info.algorithm, info.keyID)
	fmt.Fprintf(w, "  private key: %s (%s)\n", info.privatePath, state)
	fmt.Fprintf(w, "  public key:  %s\n", info.publicPath)
	path := info.privatePath
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if encrypted {
		fmt.Fprintf(w, "Use it in the oauth2_server or oauth2_token directive with:\n  private_key %s {env.OAUTH2_KEY_PASSPHRASE}\n", path)
	} else {
		fmt.Fprintf(w, "Use it in the oauth2_server or oauth2_token directive with:\n  private_key %s\n", path)
	}
}
