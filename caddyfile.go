package caddyoauth2

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauth2_token", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("oauth2_token", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterHandlerDirective("oauth2_server", parseServerCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("oauth2_server", httpcaddyfile.Before, "respond")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	t := new(TokenHandler)
	err := t.UnmarshalCaddyfile(h.Dispenser)
	return t, err
}

func parseServerCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(ServerHandler)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
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
//	    refresh_token_reuse_interval <duration>
//	    purge_interval     <duration>|off
//	    grants             <grant...>
//	    default_scope      <scope...>
//	    repository file    <path> [{
//	        tokens sql <driver> <dsn>
//	    }]
//	    repository sql     <driver> <dsn>
//	    db_timeout         <duration>
//	    hash_concurrency   <n>
//	    secret_cache_size  <n>
//	    throttle off | {
//	        failures     <n>
//	        ip_failures  <n>
//	        window       <duration>
//	        lock         <duration>
//	    }
//	}
//
// It only parses, as caddyauth's parser does: what a value means (a known
// grant, a long enough key, a supported driver) is checked once, at
// provisioning, so a JSON config gets the same checks and `caddy validate`
// reports them with the subdirective's name.
func (h *TokenHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalBlock(d, func(sub string) (func(*caddyfile.Dispenser) error, bool) {
		parse, ok := subdirectives[sub]
		return func(d *caddyfile.Dispenser) error { return parse(h, d) }, ok
	})
}

// UnmarshalCaddyfile sets up the server from Caddyfile tokens: every
// subdirective of oauth2_token, plus
//
//	oauth2_server [<matcher>] {
//	    base_path         <path>
//	    verification_key  <path>...
//	    key_rotation      <duration>|off
//	}
func (h *ServerHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalBlock(d, func(sub string) (func(*caddyfile.Dispenser) error, bool) {
		if parse, ok := serverSubdirectives[sub]; ok {
			return func(d *caddyfile.Dispenser) error { return parse(h, d) }, true
		}
		parse, ok := subdirectives[sub]
		return func(d *caddyfile.Dispenser) error { return parse(&h.TokenHandler, d) }, ok
	})
}

// unmarshalBlock parses a directive without arguments whose block holds
// subdirectives, each at most once, with the parser lookup finds for it.
func unmarshalBlock(d *caddyfile.Dispenser, lookup func(sub string) (func(*caddyfile.Dispenser) error, bool)) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for d.NextBlock(0) {
		sub := d.Val()
		parse, ok := lookup(sub)
		if !ok {
			return d.Errf("unknown subdirective %q", sub)
		}
		if seen[sub] {
			return d.Errf("%s: given more than once", sub)
		}
		seen[sub] = true
		if err := parse(d); err != nil {
			return d.Errf("%s: %v", sub, err)
		}
	}
	return nil
}

// subdirectives parse each subdirective's arguments into the handler's
// fields, one entry per subdirective.
var subdirectives = map[string]func(h *TokenHandler, d *caddyfile.Dispenser) error{
	"issuer":   func(h *TokenHandler, d *caddyfile.Dispenser) (err error) { h.Issuer, err = oneArg(d); return err },
	"audience": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) { h.Audience, err = someArgs(d); return err },
	"private_key": func(h *TokenHandler, d *caddyfile.Dispenser) error {
		args := d.RemainingArgs()
		if len(args) < 1 || len(args) > 2 {
			return fmt.Errorf("want <path> [<passphrase>], got %d arguments", len(args))
		}
		h.PrivateKey = args[0]
		if len(args) == 2 {
			h.PrivateKeyPassphrase = args[1]
		}
		return nil
	},
	"encryption_key": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.EncryptionKey, err = oneArg(d)
		return err
	},
	"access_token_ttl": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.AccessTokenTTL, err = durationArg(d)
		return err
	},
	"refresh_token_ttl": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.RefreshTokenTTL, err = durationArg(d)
		return err
	},
	"refresh_token_reuse_interval": func(h *TokenHandler, d *caddyfile.Dispenser) error {
		// 0s is allowed: it is the default, strict rotation, spelled out.
		arg, err := oneArg(d)
		if err != nil {
			return err
		}
		dur, err := caddy.ParseDuration(arg)
		h.RefreshTokenReuseInterval = caddy.Duration(dur)
		return err
	},
	"purge_interval": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.PurgeInterval, err = durationOrOff(d)
		return err
	},
	"grants": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) { h.Grants, err = someArgs(d); return err },
	"default_scope": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.DefaultScope, err = someArgs(d)
		return err
	},
	"repository": func(h *TokenHandler, d *caddyfile.Dispenser) error { return h.unmarshalRepository(d) },
	"hash_concurrency": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.HashConcurrency, err = positiveIntArg(d)
		return err
	},
	"secret_cache_size": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.SecretCacheSize, err = positiveIntArg(d)
		return err
	},
	"throttle": func(h *TokenHandler, d *caddyfile.Dispenser) error { return h.unmarshalThrottle(d) },
	"db_timeout": func(h *TokenHandler, d *caddyfile.Dispenser) (err error) {
		h.DBTimeout, err = durationArg(d)
		return err
	},
}

// unmarshalThrottle parses `throttle off` or a block of limits.
func (h *TokenHandler) unmarshalThrottle(d *caddyfile.Dispenser) error {
	t := &ThrottleConfig{}
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return errors.New("want off, or a block of failures, ip_failures, window and lock")
		}
		if d.NextBlock(1) {
			return errors.New("unexpected block after off")
		}
		h.Throttle = &ThrottleConfig{Off: true}
		return nil
	}
	seen := map[string]bool{}
	for d.NextBlock(1) {
		option := d.Val()
		if seen[option] {
			return fmt.Errorf("%s given more than once", option)
		}
		seen[option] = true
		var err error
		switch option {
		case "failures":
			t.Failures, err = positiveIntArg(d)
		case "ip_failures":
			t.IPFailures, err = positiveIntArg(d)
		case "window":
			t.Window, err = durationArg(d)
		case "lock":
			t.Lock, err = durationArg(d)
		default:
			return fmt.Errorf("unknown option %q (want failures, ip_failures, window or lock)", option)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", option, err)
		}
	}
	h.Throttle = t
	return nil
}

// positiveIntArg parses one argument as a whole number of at least 1.
func positiveIntArg(d *caddyfile.Dispenser) (int, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a whole number of at least 1, got %q", s)
	}
	return n, nil
}

// serverSubdirectives are the subdirectives only oauth2_server has.
var serverSubdirectives = map[string]func(h *ServerHandler, d *caddyfile.Dispenser) error{
	"base_path": func(h *ServerHandler, d *caddyfile.Dispenser) (err error) { h.BasePath, err = oneArg(d); return err },
	"verification_key": func(h *ServerHandler, d *caddyfile.Dispenser) (err error) {
		h.VerificationKeys, err = someArgs(d)
		return err
	},
	"key_rotation": func(h *ServerHandler, d *caddyfile.Dispenser) (err error) {
		h.KeyRotation, err = durationOrOff(d)
		return err
	},
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
	return parseDuration(s)
}

// durationOrOff parses a duration or "off", which the JSON form writes as
// a negative duration.
func durationOrOff(d *caddyfile.Dispenser) (caddy.Duration, error) {
	arg, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	if arg == "off" {
		return -1, nil
	}
	return parseDuration(arg)
}

// parseDuration parses a duration argument. Zero and negative durations are
// refused here, not at provisioning, because in the JSON form they mean
// something else: zero is "the default" and a negative purge_interval "off".
func parseDuration(s string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if dur <= 0 {
		return 0, fmt.Errorf("must be positive, got %s", s)
	}
	return caddy.Duration(dur), nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*TokenHandler)(nil)
	_ caddyfile.Unmarshaler = (*ServerHandler)(nil)
)
