package caddyoauth2

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauth2_token", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("oauth2_token", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(TokenHandler)
	err := t.UnmarshalCaddyfile(h.Dispenser)
	return t, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	oauth2_token [<matcher>] {
//	    issuer             <url>
//	    audience           <aud...>
//	    private_key        <path> [<passphrase>]
//	    encryption_key     <key>
//	    access_token_ttl   <duration>
//	    refresh_token_ttl  <duration>
//	    purge_interval     <duration>|off
//	    grants             <grant...>
//	    default_scope      <scope...>
//	    repository file    <path> [{
//	        tokens sql <driver> <dsn>
//	    }]
//	    repository sql     <driver> <dsn>
//	}
//
// Values that need no I/O (durations, grant names, drivers, a literal
// encryption_key's length) are checked here, so the error carries the line.
func (h *TokenHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		sub := d.Val()
		if seen[sub] {
			return d.Errf("%s: given more than once", sub)
		}
		seen[sub] = true
		var err error
		switch sub {
		case "issuer":
			h.Issuer, err = oneArg(d)
		case "audience":
			h.Audience, err = someArgs(d)
		case "private_key":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				err = fmt.Errorf("want <path> [<passphrase>], got %d arguments", len(args))
				break
			}
			h.PrivateKey = args[0]
			if len(args) == 2 {
				h.PrivateKeyPassphrase = args[1]
			}
		case "encryption_key":
			h.EncryptionKey, err = oneArg(d)
			if err == nil && !hasPlaceholder(h.EncryptionKey) && len(h.EncryptionKey) < minEncryptionKeyLen {
				err = fmt.Errorf("must be at least %d bytes, got %d (generate one with: openssl rand -base64 32)",
					minEncryptionKeyLen, len(h.EncryptionKey))
			}
		case "access_token_ttl":
			h.AccessTokenTTL, err = durationArg(d)
		case "refresh_token_ttl":
			h.RefreshTokenTTL, err = durationArg(d)
		case "purge_interval":
			var arg string
			if arg, err = oneArg(d); err == nil && arg == "off" {
				h.PurgeInterval = -1
			} else if err == nil {
				h.PurgeInterval, err = parsePositiveDuration(arg)
			}
		case "grants":
			h.Grants, err = someArgs(d)
			for _, g := range h.Grants {
				if !slices.Contains(supportedGrants, g) {
					err = fmt.Errorf("unknown grant %q (want one of %s)", g, strings.Join(supportedGrants, ", "))
				}
			}
		case "default_scope":
			h.DefaultScope, err = someArgs(d)
		case "repository":
			err = h.unmarshalRepository(d)
		default:
			return d.Errf("unknown subdirective %q", sub)
		}
		if err != nil {
			return d.Errf("%s: %v", sub, err)
		}
	}
	return nil
}

func (h *TokenHandler) unmarshalRepository(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return errors.New("want file <path> or sql <driver> <dsn>")
	}
	var repo any
	backend := d.Val()
	switch backend {
	case "sql":
		sqlRepo, err := sqlRepositoryArgs(d)
		if err != nil {
			return err
		}
		if d.NextBlock(1) {
			return errors.New("unexpected block after sql <driver> <dsn>")
		}
		repo = sqlRepo
	case "file":
		path, err := oneArg(d)
		if err != nil {
			return err
		}
		fileRepo := &FileRepository{Path: path}
		for d.NextBlock(1) {
			if d.Val() != "tokens" {
				return fmt.Errorf("unknown option %q (want tokens sql <driver> <dsn>)", d.Val())
			}
			if fileRepo.Tokens != nil {
				return errors.New("tokens given more than once")
			}
			if !d.NextArg() || d.Val() != "sql" {
				return errors.New("want tokens sql <driver> <dsn>")
			}
			if fileRepo.Tokens, err = sqlRepositoryArgs(d); err != nil {
				return err
			}
		}
		repo = fileRepo
	default:
		return fmt.Errorf("unknown backend %q (want file or sql)", backend)
	}
	h.RepositoryRaw = caddyconfig.JSONModuleObject(repo, "backend", backend, nil)
	return nil
}

func sqlRepositoryArgs(d *caddyfile.Dispenser) (*SQLRepository, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, fmt.Errorf("want sql <driver> <dsn>, got %d arguments after sql", len(args))
	}
	if !slices.Contains(supportedDrivers, args[0]) {
		return nil, fmt.Errorf("unknown driver %q (want one of %s)", args[0], strings.Join(supportedDrivers, ", "))
	}
	return &SQLRepository{Driver: args[0], DSN: args[1]}, nil
}

func oneArg(d *caddyfile.Dispenser) (string, error) {
	args := d.RemainingArgs()
	if len(args) != 1 {
		return "", fmt.Errorf("want exactly one argument, got %d", len(args))
	}
	return args[0], nil
}

func someArgs(d *caddyfile.Dispenser) ([]string, error) {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, errors.New("want at least one argument")
	}
	return args, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	return parsePositiveDuration(s)
}

func parsePositiveDuration(s string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if dur <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", s)
	}
	return caddy.Duration(dur), nil
}

func hasPlaceholder(s string) bool {
	return strings.Contains(s, "{") && strings.Contains(s, "}")
}

// Interface guard
var _ caddyfile.Unmarshaler = (*TokenHandler)(nil)
