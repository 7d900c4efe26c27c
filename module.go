// Package caddyoauth2 is an OAuth 2.0 authorization server for Caddy: the
// oauth2_token handler answers token requests (refresh_token, password and
// client_credentials grants) with signed JWT access tokens and encrypted refresh
// tokens that rotate on every use.
//
// The grant logic lives in the grants package and knows nothing of Caddy or HTTP;
// this package only turns configuration into a grants.Server (Provision) and HTTP
// requests into grants.Requests (ServeHTTP).
package caddyoauth2

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

func init() {
	caddy.RegisterModule(TokenHandler{})
}

// TokenHandler is an OAuth 2.0 token endpoint (RFC 6749 section 3.2). It issues
// JWT access tokens (RFC 9068) signed with PrivateKey and refresh tokens sealed
// with EncryptionKey, which rotate on every use; a replayed refresh token revokes
// every token descended from the same grant (RFC 9700 section 4.14.2).
//
// The handler answers every request it is given; use a matcher (usually the path
// /oauth/token) to choose which requests those are.
type TokenHandler struct {
	// Issuer is the "iss" claim of access tokens. Default: scheme://host of the
	// request, which is only right when every client reaches one host name.
	// A placeholder that resolves to nothing is a load error, not the default:
	// the operator meant to fix the issuer.
	Issuer string `json:"issuer,omitempty"`

	// Audience is the "aud" claim of access tokens. Default: the client id, as
	// league/oauth2-server does.
	Audience []string `json:"audience,omitempty"`

	// PrivateKey is the path of the PEM private key that signs access tokens. The
	// algorithm follows the key: RSA is RS256, EC P-256 is ES256, Ed25519 is EdDSA.
	// PKCS#1, SEC1, PKCS#8, encrypted PKCS#8 and legacy encrypted PEM are read.
	// Default: an ES256 key generated once and kept in Caddy's storage.
	PrivateKey string `json:"private_key,omitempty"`

	// PrivateKeyPassphrase decrypts an encrypted PrivateKey. Use an {env.*} or
	// {file.*} placeholder rather than a literal.
	PrivateKeyPassphrase string `json:"private_key_passphrase,omitempty"`

	// EncryptionKey is the secret refresh tokens are sealed with: any string of at
	// least 32 bytes. Default: 32 random bytes generated once and kept in Caddy's
	// storage. Use an {env.*} or {file.*} placeholder rather than a literal.
	EncryptionKey string `json:"encryption_key,omitempty"`

	// AccessTokenTTL is the lifetime of access tokens. Default: 1h.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`

	// RefreshTokenTTL is the lifetime of a refresh token; every refresh issues a
	// successor with a fresh lifetime. Default: 30d.
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// RefreshTokenReuseInterval is how long after a refresh token was used
	// the same client may present it again and get the same successor (freshly
	// sealed) with a new access token, instead of a replay that revokes the
	// family: for clients whose refresh answer was lost on the network.
	// Default: 0, strict; at most 5m. Once the successor is used, or after the
	// interval, presenting the old token is a replay as ever.
	RefreshTokenReuseInterval caddy.Duration `json:"refresh_token_reuse_interval,omitempty"`

	// PurgeInterval is how often refresh tokens expired for more than 10
	// minutes, and those of families revoked longer ago than the access token
	// lifetime, are deleted from the token store, in small batches. Default:
	// 1h, at least 1m; the first purge runs within a minute of loading the
	// config. A negative value (`off` in the Caddyfile) turns purging off, for
	// deployments where one instance or an external job does it.
	PurgeInterval caddy.Duration `json:"purge_interval,omitempty"`

	// Grants are the enabled grant types. Default: refresh_token and
	// client_credentials. The password grant must be named to be enabled: RFC 9700
	// section 2.4 says it MUST NOT be used.
	Grants []string `json:"grants,omitempty"`

	// DefaultScope is granted when a request names no scope and its client has no
	// default_scope of its own.
	DefaultScope []string `json:"default_scope,omitempty"`

	// HashConcurrency is how many password-hash checks (client secrets,
	// passwords) run at once in the process; a request that would need one
	// waits at most a second for a slot, then gets 429. Default: half the
	// CPUs, at least 1.
	HashConcurrency int `json:"hash_concurrency,omitempty"`

	// SecretCacheSize is how many verified secrets are kept, for clients
	// and for users each, so that bcrypt does not cap throughput. The cache
	// outlives config reloads. Default: 10000.
	SecretCacheSize int `json:"secret_cache_size,omitempty"`

	// DBTimeout bounds all of one request's database work (DESIGN.md §6a):
	// a database that does not answer in time gets the request a 503 with
	// Retry-After, and a rotation not yet committed is not committed.
	// Default: 5s.
	DBTimeout caddy.Duration `json:"db_timeout,omitempty"`

	// Throttle locks out guessers (DESIGN.md §6a). Default: on, with 5
	// failures per (id, IP) and 50 per IP in 5m locking for 5m.
	Throttle *ThrottleConfig `json:"throttle,omitempty"`

	// RepositoryRaw holds clients, users, scopes and token state. Default: the sql
	// backend with SQLite at <caddy data dir>/oauth2/oauth2.db.
	RepositoryRaw json.RawMessage `json:"repository,omitempty" caddy:"namespace=http.oauth2.repositories inline_key=backend"`

	server      *grants.Server
	keys        keySource
	definitions repos.Definitions
	limits      *sharedLimits
	metrics     *metrics
	events      *caddyevents.App // nil when no events app runs (a unit test)
	ctx         caddy.Context
	errorLog    *sampledLog
	logger      *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (TokenHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth2_token",
		New: func() caddy.Module { return new(TokenHandler) },
	}
}

// Provision builds the grant server once. The settings are checked first, so
// that a wrong one fails the load before a database is opened, a key file
// read or the purge started; then the repository, the keys and the server are
// set up. Every error names the subdirective it is about.
func (h *TokenHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	cfg, err := h.resolve(caddy.NewReplacer())
	if err != nil {
		return err
	}
	return h.provision(ctx, cfg)
}

// provision opens what cfg names and builds the grant server: the part of
// provisioning oauth2_token and oauth2_server share.
func (h *TokenHandler) provision(ctx caddy.Context, cfg *settings) error {
	repo, err := h.loadRepository(ctx)
	if err != nil {
		return fmt.Errorf("repository: %w", err)
	}
	defs, store := repo.Repository()
	h.definitions = defs
	keys, err := loadKeys(ctx, cfg)
	if err != nil {
		return err
	}
	h.keys = keys
	sealer, err := loadSealer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("encryption_key: %w", err)
	}

	if h.limits, err = loadLimits(cfg); err != nil {
		return err
	}
	verifier := h.limits.verifier()
	observeUserHash(ctx, defs, verifier)
	h.ctx = ctx
	h.metrics = newMetrics(ctx.GetMetricsRegistry())
	h.errorLog = newSampledLog(h.logger)
	if app, err := ctx.AppIfConfigured("events"); err == nil {
		h.events, _ = app.(*caddyevents.App)
	}
	h.server, err = grants.NewServer(grants.Config{
		Issuer:               cfg.issuer,
		Audience:             cfg.audience,
		AccessTokenTTL:       cfg.accessTTL,
		RefreshTokenTTL:      cfg.refreshTTL,
		RefreshReuseInterval: cfg.reuseInterval,
		Grants:               cfg.grants,
		DefaultScope:         cfg.defaultScope,
		Keys:                 keys,
		Sealer:               sealer,
		Definitions:          defs,
		Tokens:               newInstrumentedStore(store, h.metrics),
		Secrets:              verifier,
		Throttle:             h.limits.throttle,
		RequestTimeout:       cfg.dbTimeout,
		OnLockout:            h.lockedOut,
	})
	if err != nil {
		// resolve checked every setting NewServer checks: this is a bug.
		return fmt.Errorf("building the token server: %w", err)
	}
	if p, ok := store.(purger); ok && cfg.purgeInterval > 0 {
		go purge(ctx, h.logger, p, cfg.purgeInterval, cfg.accessTTL, realClock{})
	}
	h.logger.Info("oauth2 server ready",
		zap.String("algorithm", keys.Signer().Algorithm()),
		zap.String("kid", keys.Signer().KeyID()),
		zap.Strings("grants", cfg.grants))
	return nil
}

// Cleanup gives back the limits shared across reloads.
func (h *TokenHandler) Cleanup() error {
	if h.limits != nil {
		h.limits.release()
	}
	return nil
}

// observeUserHash shows the verifier a user's hash, so that an unknown
// username costs what a user's password costs from the first request on,
// before any user has logged in.
func observeUserHash(ctx caddy.Context, defs repos.Definitions, v *secrets.Verifier) {
	if c, ok := defs.(repos.Catalog); ok {
		if hash, err := c.UserPasswordHash(ctx); err == nil && hash != "" {
			v.Observe(secrets.User, hash)
		}
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*TokenHandler)(nil)
	_ caddy.CleanerUpper          = (*TokenHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*TokenHandler)(nil)
)
