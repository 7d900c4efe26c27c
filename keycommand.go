package caddyoauth2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-oauth2/caddy-oauth2/keyset"
)

// keyCommand is `caddy oauth2 key list|rotate`: the generated signing keys
// kept in Caddy's storage, which every instance on that storage follows.
// It lives here rather than in internal/manage because it needs Caddy's
// storage modules.
func keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key list|rotate [--now]",
		Short: "Lists and rotates the generated signing keys in Caddy's storage",
		Long: `
Lists and rotates the signing keys that oauth2_server and oauth2_token
generate when no private_key is configured. They are kept in Caddy's
storage, found through the config as 'caddy run' finds it (--config), or
Caddy's default data directory without one; every instance on that storage
follows the change within a minute.

    list            every published key: kid, state, and its times
    rotate          publish a new key now; it starts signing in one hour, when
                    every resource server caching the key set has seen it
    rotate --now    for a leaked key only: the new key signs at once and every
                    other key leaves the key set, so the tokens they signed stop
                    verifying wherever the key set is fetched again (resource
                    servers that cache it need a reload)
`,
	}
	flags := cmd.PersistentFlags()
	flags.StringP("config", "c", "", "Caddy config file, as for 'caddy run'")
	flags.StringP("adapter", "a", "", "Name of the config adapter, as for 'caddy run'")

	list := &cobra.Command{
		Use:   "list",
		Short: "Lists the published signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			storage, sched, err := keyStorage(cmd)
			if err != nil {
				return err
			}
			keys, err := keyset.List(cmd.Context(), storage, time.Now(), sched)
			if err != nil {
				return err
			}
			return printKeys(cmd.OutOrStdout(), keys)
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate [--now]",
		Short: "Publishes a new signing key (with --now: signs at once and drops every other key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			storage, sched, err := keyStorage(cmd)
			if err != nil {
				return err
			}
			now, _ := cmd.Flags().GetBool("now")
			k, err := keyset.Rotate(cmd.Context(), storage, time.Now, sched, now)
			if err != nil {
				return err
			}
			if now {
				fmt.Fprintf(cmd.OutOrStdout(), "key %s signs now; every other key left the key set\n", k.ID)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s published; it signs from %s\n", k.ID, k.ActivatesAt.Local().Format(time.RFC3339))
			return nil
		},
	}
	rotate.Flags().Bool("now", false, "Sign with the new key at once and drop every other key (a leaked key)")
	cmd.AddCommand(list, rotate)
	return cmd
}

// keyStorage returns the storage of the config named by the command's flags
// and the key schedule of its oauth2 handlers.
func keyStorage(cmd *cobra.Command) (keyset.Storage, keyset.Schedule, error) {
	file, _ := cmd.Flags().GetString("config")
	adapter, _ := cmd.Flags().GetString("adapter")
	config, _, _, err := caddycmd.LoadConfig(file, adapter)
	if err != nil {
		return nil, keyset.Schedule{}, err
	}
	if len(config) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "no config (give it with --config): using Caddy's default storage in %s "+
			"and a one-hour access token lifetime\n", caddy.AppDataDir())
	}
	return configKeyStorage(cmd.Context(), config)
}

// configKeyStorage returns the storage a JSON config names (Caddy's default
// without one) and the schedule its oauth2 handlers keep keys on: the
// longest access token lifetime among them, so that no key is listed as
// dropped while a token it signed may still be in use. A config whose
// handlers all sign with a key file has no generated keys to manage.
func configKeyStorage(ctx context.Context, config []byte) (keyset.Storage, keyset.Schedule, error) {
	sched := keyset.Schedule{Lead: keyLead(), Keep: DefaultAccessTokenTTL + keyLead()}
	if len(config) == 0 {
		return caddy.DefaultStorage, sched, nil
	}
	handlers, fileKeys := 0, 0
	var root any
	if err := json.Unmarshal(config, &root); err != nil {
		return nil, sched, fmt.Errorf("reading config: %w", err)
	}
	walkJSON(root, func(obj map[string]any) {
		if name, _ := obj["handler"].(string); name != handlerName(TokenHandler{}) && name != handlerName(ServerHandler{}) {
			return
		}
		raw, _ := json.Marshal(obj) // decoded from JSON, it encodes again
		var h TokenHandler
		if json.Unmarshal(raw, &h) != nil {
			return
		}
		handlers++
		if h.PrivateKey != "" {
			fileKeys++
		}
		sched.Keep = max(sched.Keep, orDefault(h.AccessTokenTTL, DefaultAccessTokenTTL)+sched.Lead)
	})
	if handlers > 0 && handlers == fileKeys {
		return nil, sched, errors.New("every oauth2 handler of the config signs with a private_key file: " +
			"rotate it by hand with verification_key (see the README)")
	}

	var c struct {
		StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`
	}
	if err := json.Unmarshal(config, &c); err != nil || len(c.StorageRaw) == 0 {
		return caddy.DefaultStorage, sched, nil
	}
	cctx, cancel := caddy.NewContext(caddy.Context{Context: ctx})
	// The storage modules hold no goroutines once loaded; the context only
	// scopes their provisioning.
	defer cancel()
	mod, err := cctx.LoadModule(&c, "StorageRaw")
	if err != nil {
		return nil, sched, fmt.Errorf("loading the config's storage: %w", err)
	}
	storage, err := mod.(caddy.StorageConverter).CertMagicStorage()
	if err != nil {
		return nil, sched, fmt.Errorf("opening the config's storage: %w", err)
	}
	return storage, sched, nil
}

// printKeys writes the keys as a table.
func printKeys(out io.Writer, keys []keyset.Key) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tSIGNS FROM\tSIGNS UNTIL\tLEAVES THE KEY SET")
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format(time.RFC3339)
	}
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.State, at(k.ActivatesAt), at(k.DeactivatesAt), at(k.DropsAt))
	}
	return tw.Flush()
}
