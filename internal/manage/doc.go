// Package manage is the logic of the `caddy oauth2` command family: adding,
// listing and removing the clients, users and scopes of an oauth2_server or
// oauth2_token handler's repository, revoking tokens, and generating signing
// keys.
//
// It knows the command line only through Setup, which builds the cobra
// commands; everything else takes a store, an io.Reader and io.Writers, so
// that it runs in tests without a terminal or a Caddy process. What does need
// Caddy (adapting a Caddyfile, resolving placeholders, hashing like `caddy
// hash-password`) comes in through an Env that the root package fills in.
//
// Results that a script may want (a generated secret, a listing) go to the
// standard output; confirmations, warnings and prompts go to the standard
// error, so that `secret=$(caddy oauth2 client add web ...)` captures the
// secret alone.
package manage
