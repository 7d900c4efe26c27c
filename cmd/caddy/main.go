// Command caddy is Caddy with its standard modules and the oauth2_token handler
// built in, so that `go run ./cmd/caddy run --config example.Caddyfile` works
// without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-oauth2/caddy-oauth2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
