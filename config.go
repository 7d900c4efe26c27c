package caddyoauth2

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/throttle"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Defaults that apply when the configuration leaves a value out.
const (
	DefaultAccessTokenTTL  = time.Hour
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour
	DefaultPurgeInterval   = time.Hour
	DefaultDBTimeout       = 5 * time.Second
)

// minDBTimeout keeps db_timeout above what a healthy database needs for a
// commit, with room for a slow disk.
const minDBTimeout = 100 * time.Millisecond

// minPurgeInterval keeps a mistyped interval (1ns in JSON, say) from making
// the purge a busy loop.
const minPurgeInterval = time.Minute

// settings is a TokenHandler's configuration as provisioning uses it:
// placeholders resolved, defaults applied and every rule that needs no I/O
// checked. resolve is the only place that reads the handler's raw fields, so
// no part of the handler can see an unresolved or unchecked value.
type settings struct {
	// issuer is the iss claim; empty means the request's origin.
	issuer   string
	audience []string

	// privateKeyFile is the signing key's path; empty means the key kept in
	// Caddy's storage. passphrase decrypts it.
	privateKeyFile string
	passphrase     []byte
	// encryptionKey seals refresh tokens; nil means the secret kept in
	// Caddy's storage.
	encryptionKey []byte

	accessTTL     time.Duration
	refreshTTL    time.Duration
	reuseInterval time.Duration
	// purgeInterval is zero when purging is off.
	purgeInterval time.Duration

	grants       []string
	defaultScope []string

	// keyRotation is how often generated keys rotate; zero: never.
	keyRotation time.Duration
	// keyLead is how long a generated key is published before it signs.
	keyLead time.Duration
	// verificationKeys are the paths of keys published but never used to
	// sign.
	verificationKeys []string

	hashConcurrency int
	secretCacheSize int
	dbTimeout       time.Duration
	// throttle is nil when throttling is off.
	throttle *throttle.Config
}

// resolve resolves placeholders, applies defaults and checks every setting
// that can be checked without I/O. It runs before anything is opened, read or
// started, so a wrong setting costs no connection and leaves nothing behind,
// and each error names its subdirective. Every mistake is reported, not just
// the first.
func (h *TokenHandler) resolve(repl *caddy.Replacer) (*settings, error) {
	var p problems
	s := h.resolveInto(repl, &p)
	return s, errors.Join(p...)
}

// resolveInto is resolve for the settings oauth2_token and oauth2_server
// share, recording mistakes in p.
func (h *TokenHandler) resolveInto(repl *caddy.Replacer, p *problems) *settings {
	s := &settings{
		keyLead:       keyLead(),
		accessTTL:     orDefault(h.AccessTokenTTL, DefaultAccessTokenTTL),
		refreshTTL:    orDefault(h.RefreshTokenTTL, DefaultRefreshTokenTTL),
		purgeInterval: orDefault(h.PurgeInterval, DefaultPurgeInterval),
		grants:        h.Grants,
		defaultScope:  h.DefaultScope,
	}
	if len(s.grants) == 0 {
		s.grants = grants.Default()
	}
	h.resolveClaims(repl, s, p)
	h.resolveKeys(repl, s, p)
	h.resolveLimits(s, p)

	p.add("access_token_ttl", grants.CheckLifetime(s.accessTTL))
	p.add("refresh_token_ttl", grants.CheckLifetime(s.refreshTTL))
	s.dbTimeout = orDefault(h.DBTimeout, DefaultDBTimeout)
	if s.dbTimeout < minDBTimeout {
		p.add("db_timeout", fmt.Errorf("must be at least %s", minDBTimeout))
	}
	s.reuseInterval = time.Duration(h.RefreshTokenReuseInterval)
	p.add("refresh_token_reuse_interval", grants.CheckReuseInterval(s.reuseInterval))
	switch {
	case h.PurgeInterval < 0:
		s.purgeInterval = 0 // purge_interval off
	case s.purgeInterval < minPurgeInterval:
		p.add("purge_interval", fmt.Errorf("must be at least %s, or off", minPurgeInterval))
	}
	for _, g := range s.grants {
		p.add("grants", repos.CheckGrantType(g))
	}
	p.add("default_scope", grants.CheckScopes(s.defaultScope))
	if repo, err := decodeRepository(h.RepositoryRaw); err != nil {
		p.add("repository", err)
	} else {
		p.add("repository", repo.check(repl))
	}
	return s
}

// problems collects the mistakes of a configuration, each prefixed with its
// subdirective.
type problems []error

// add records err, if there is one, as a mistake of subdirective.
func (p *problems) add(subdirective string, err error) {
	if err != nil {
		*p = append(*p, fmt.Errorf("%s: %w", subdirective, err))
	}
}

// resolveClaims resolves the issuer and audience, the claims set by
// configuration.
func (h *TokenHandler) resolveClaims(repl *caddy.Replacer, s *settings, p *problems) {
	var err error
	s.issuer, err = resolvePlaceholders(repl, h.Issuer)
	p.add("issuer", err)
	for _, aud := range h.Audience {
		v, err := resolvePlaceholders(repl, aud)
		p.add("audience", err)
		if err == nil && v == "" {
			p.add("audience", errors.New("an audience is empty"))
		}
		s.audience = append(s.audience, v)
	}
}

// resolveKeys resolves the signing key's path and passphrase and the
// encryption key, and checks what can be checked before they are read.
func (h *TokenHandler) resolveKeys(repl *caddy.Replacer, s *settings, p *problems) {
	var err error
	s.privateKeyFile, err = resolvePlaceholders(repl, h.PrivateKey)
	p.add("private_key", err)
	passphrase, err := resolvePlaceholders(repl, h.PrivateKeyPassphrase)
	p.add("private_key", passphraseError(err))
	if passphrase != "" {
		s.passphrase = []byte(passphrase)
		if h.PrivateKey == "" {
			p.add("private_key", errors.New("a passphrase is given without a key file"))
		}
	}

	encryptionKey, err := resolvePlaceholders(repl, h.EncryptionKey)
	p.add("encryption_key", err)
	if err == nil && h.EncryptionKey != "" {
		s.encryptionKey = []byte(encryptionKey)
		p.add("encryption_key", tokens.CheckEncryptionKey(s.encryptionKey))
	}
}

// orDefault is the configured duration, or def when it is left out.
func orDefault(d caddy.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// errEmptyPlaceholder is a setting whose placeholders all resolved to
// nothing: `issuer {env.ISSUER}` with ISSUER unset. Such a setting is refused
// rather than treated as left out, because the operator meant to set it: an
// issuer that silently fell back to the request's Host would change with
// every name clients use.
var errEmptyPlaceholder = errors.New("resolved to an empty value")

// resolvePlaceholders replaces the {env.*}, {file.*} and other global
// placeholders of a setting. A setting that is given but comes out empty is an
// error naming it; the raw text is safe to show then, since only placeholders
// can resolve to nothing.
func resolvePlaceholders(repl *caddy.Replacer, raw string) (string, error) {
	v := repl.ReplaceKnown(raw, "")
	if raw != "" && v == "" {
		return "", fmt.Errorf("%s %w", raw, errEmptyPlaceholder)
	}
	return v, nil
}

// passphraseError says that an empty placeholder was the passphrase, which
// the private_key subdirective's second argument is.
func passphraseError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("passphrase %w", err)
}
