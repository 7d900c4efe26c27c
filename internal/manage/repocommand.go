package manage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// The client, user and scope commands all have one shape: a parent command
// that holds the flags finding the repository, and subcommands that open it,
// do one thing with a manager on it, and close it. This file is that shape, so
// that each command's definition in command.go is only what is its own: its
// usage, its help, its flags and what it does.

// repositoryHelp is the part of every client, user and scope command's help
// that says how the repository is found.
const repositoryHelp = `
The repository is the one the oauth2 handlers of the config use: give
the config with --config (and --adapter) as to 'caddy run'; without them,
./Caddyfile is used if there is one. Or name the repository directly, in the
words of the Caddyfile:

    --repository "sql sqlite /var/lib/caddy/oauth2.db"
    --repository "sql postgres {env.DATABASE_URL}"
    --repository "file /etc/caddy/oauth2.json"

An unquoted DSN or path is the rest of the value, spaces and all:
--repository "sql postgres host=db user=caddy". Placeholders such as
{env.DATABASE_URL} are resolved, which keeps a password out of the shell
history and the process list. A SQL repository's changes
apply at once, and a running Caddy notices a changed definitions file within
a second: neither needs 'caddy reload'.
`

// repositoryCommand returns the client, user or scope command: long, then
// repositoryHelp, as its help; the flags that find the repository, which its
// subcommands inherit; and the subcommands.
func repositoryCommand(use, short, long string, subcommands ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long + repositoryHelp}
	repositoryFlags(cmd)
	cmd.AddCommand(subcommands...)
	return cmd
}

// repositoryFlags adds the flags that find the repository to cmd, for its
// subcommands too.
func repositoryFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringP("config", "c", "", "Caddy config file whose oauth2_server or oauth2_token handlers name the repository")
	f.StringP("adapter", "a", "", "Name of the config adapter, as for 'caddy run'")
	f.StringP("repository", "r", "", `The repository itself: "sql <driver> <dsn>" or "file <path>"`)
}

// keepTokensFlag adds --keep-tokens to a subcommand that revokes the tokens
// of the user or client it takes away.
func keepTokensFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().Bool("keep-tokens", false, "Leave the tokens issued before the change working")
	return cmd
}

// action is what a client, user or scope subcommand does once the repository
// is open: args are its positional arguments, already checked, and cmd is
// there for its own flags and its standard input.
type action func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error

// subcommand returns a client, user or scope subcommand that runs do on the
// repository. Its positional arguments are the <names> in use (checkArgs).
// The caller adds the subcommand's own flags beside the call, where a reader
// of its usage looks for them.
func (e Env) subcommand(use, short string, do action) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  checkArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.runOnRepository(cmd, args, do)
		},
	}
}

// withoutArgs makes an action of a manager method that takes no argument,
// such as (*manager).listClients.
func withoutArgs(f func(*manager, context.Context) error) action {
	return func(ctx context.Context, m *manager, _ *cobra.Command, _ []string) error {
		return f(m, ctx)
	}
}

// withArg makes an action of a manager method that takes the subcommand's one
// positional argument, such as (*manager).removeClient.
func withArg(f func(*manager, context.Context, string) error) action {
	return func(ctx context.Context, m *manager, _ *cobra.Command, args []string) error {
		return f(m, ctx, args[0])
	}
}

// runOnRepository finds and opens the repository, says which one it is, runs
// do with a manager on it, and closes it. It says which repository it uses
// because one found through a config may not be the one the user expected,
// and the message shows it before anything is changed.
func (e Env) runOnRepository(cmd *cobra.Command, args []string, do action) (err error) {
	loc, err := e.locate(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	s, err := openStore(ctx, loc)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Using the %s.\n", loc)
	tokens := &tokenState{repo: loc, defs: s}
	defer func() {
		if cerr := errors.Join(tokens.Close(), s.Close()); cerr != nil && err == nil {
			err = fmt.Errorf("closing %s: %w", loc, cerr)
		}
	}()
	m := &manager{store: s, tokens: tokens, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr(), hash: e.Hash}
	return do(ctx, m, cmd, args)
}

// locate finds the repository from the flags: --repository if given, else the
// config's oauth2 handlers.
func (e Env) locate(cmd *cobra.Command) (Location, error) {
	flags := cmd.Flags()
	if spec, _ := flags.GetString("repository"); spec != "" {
		loc, err := e.ParseRepository(spec)
		if err != nil {
			return Location{}, fmt.Errorf("--repository: %w", err)
		}
		return loc, nil
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
	handlers, err := e.Repositories(cfg)
	if err != nil {
		return Location{}, err
	}
	return chooseRepository(handlers)
}

// checkArgs checks the positional arguments against the <names> of the
// command's Use line, so that the usage shown and the arguments accepted
// cannot disagree, with messages clearer than cobra's "accepts 1 arg(s)".
func checkArgs(cmd *cobra.Command, args []string) error {
	names := usageArgs(cmd.Use)
	if len(args) < len(names) {
		return fmt.Errorf("missing %s (usage: %s)", names[len(args)], cmd.UseLine())
	}
	if len(args) > len(names) {
		return fmt.Errorf("unexpected argument %q (usage: %s)", args[len(names)], cmd.UseLine())
	}
	return nil
}

// usageArgs returns the positional arguments that a Use line names: the
// <words> after the command's name, before the first [optional] part.
func usageArgs(use string) []string {
	_, rest, _ := strings.Cut(use, " ")
	var names []string
	for _, w := range strings.Fields(rest) {
		if !strings.HasPrefix(w, "<") {
			break
		}
		names = append(names, w)
	}
	return names
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

// withArgKeepingTokens makes an action of a manager method that takes the
// subcommand's one positional argument and its --keep-tokens flag, such as
// (*manager).removeClient.
func withArgKeepingTokens(f func(*manager, context.Context, string, bool) error) action {
	return func(ctx context.Context, m *manager, cmd *cobra.Command, args []string) error {
		keep, _ := cmd.Flags().GetBool("keep-tokens")
		return f(m, ctx, args[0], keep)
	}
}

// passwordFrom returns a passwordFunc that reads from the command's
// standard input, prompting on its standard error.
func passwordFrom(cmd *cobra.Command, what string) passwordFunc {
	return func() ([]byte, error) { return readPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), what) }
}
