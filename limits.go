package caddyoauth2

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"

	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/throttle"
)

// DefaultSecretCacheSize is how many verified secrets are kept per kind
// (clients, users) when secret_cache_size is left out.
const DefaultSecretCacheSize = 10_000

// ThrottleConfig is the throttle subdirective (DESIGN.md §6a): failed client
// authentications and passwords are counted per (client id or username, IP)
// and per IP, in memory, shared by every handler of the process and kept
// across config reloads.
type ThrottleConfig struct {
	// Off turns throttling off (`throttle off`).
	Off bool `json:"off,omitempty"`
	// Failures locks a (client id or username, IP) pair after this many
	// failures within Window. Default: 5.
	Failures int `json:"failures,omitempty"`
	// IPFailures locks an IP after this many failures within Window, for any
	// id, unknown ones included. Default: 50.
	IPFailures int `json:"ip_failures,omitempty"`
	// Window is the time failures are counted over. Default: 5m.
	Window caddy.Duration `json:"window,omitempty"`
	// Lock is how long a locked pair or IP gets 429 for whatever would need
	// a password hash. Default: 5m.
	Lock caddy.Duration `json:"lock,omitempty"`
}

// defaultHashConcurrency is half the CPUs, at least one: hashing must leave
// room for the requests that need none.
func defaultHashConcurrency() int { return max(1, runtime.NumCPU()/2) }

// resolveLimits checks the abuse limits and applies their defaults.
func (h *TokenHandler) resolveLimits(s *settings, p *problems) {
	s.hashConcurrency = h.HashConcurrency
	if s.hashConcurrency == 0 {
		s.hashConcurrency = defaultHashConcurrency()
	} else if s.hashConcurrency < 0 {
		p.add("hash_concurrency", errors.New("must be at least 1"))
	}
	s.secretCacheSize = h.SecretCacheSize
	if s.secretCacheSize == 0 {
		s.secretCacheSize = DefaultSecretCacheSize
	} else if s.secretCacheSize < 0 {
		p.add("secret_cache_size", errors.New("must be at least 1"))
	}
	if h.Throttle != nil && h.Throttle.Off {
		return
	}
	t := ThrottleConfig{}
	if h.Throttle != nil {
		t = *h.Throttle
	}
	if t.Failures < 0 || t.IPFailures < 0 || t.Window < 0 || t.Lock < 0 {
		p.add("throttle", errors.New("failures, ip_failures, window and lock must be positive"))
	}
	s.throttle = &throttle.Config{Failures: t.Failures, IPFailures: t.IPFailures,
		Window: time.Duration(t.Window), Lock: time.Duration(t.Lock)}
}

// limitsPool holds the hashing slots, the secret cache and the throttle,
// shared by every handler with the same settings and across config reloads:
// a reload must neither empty the cache (every client would pay a full hash
// again) nor forget who was locked out, and two configs overlapping during a
// reload must not each get their own hashing budget.
var limitsPool = caddy.NewUsagePool()

// sharedLimits are the pool's values a handler holds, and their keys.
type sharedLimits struct {
	slots    *secrets.Slots
	cache    *secrets.Cache
	throttle *throttle.Limiter // nil: off
	keys     []string
}

// pooled wraps a value for the UsagePool, which needs a Destructor.
type pooled struct{ v any }

func (pooled) Destruct() error { return nil }

// loadLimits takes this config's shared limits from the pool.
func loadLimits(cfg *settings) (*sharedLimits, error) {
	l := &sharedLimits{}
	take := func(key string, make func() any) (any, error) {
		v, _, err := limitsPool.LoadOrNew(key, func() (caddy.Destructor, error) { return pooled{make()}, nil })
		if err != nil {
			return nil, err
		}
		l.keys = append(l.keys, key)
		return v.(pooled).v, nil
	}
	v, err := take(fmt.Sprintf("slots/%d", cfg.hashConcurrency), func() any { return secrets.NewSlots(cfg.hashConcurrency) })
	if err != nil {
		return nil, err
	}
	l.slots = v.(*secrets.Slots)
	if v, err = take(fmt.Sprintf("cache/%d", cfg.secretCacheSize), func() any { return secrets.NewCache(cfg.secretCacheSize) }); err != nil {
		return nil, err
	}
	l.cache = v.(*secrets.Cache)
	if cfg.throttle != nil {
		tc := *cfg.throttle
		if v, err = take(fmt.Sprintf("throttle/%+v", tc), func() any { return throttle.New(tc) }); err != nil {
			return nil, err
		}
		l.throttle = v.(*throttle.Limiter)
	}
	return l, nil
}

// release gives this config's references back to the pool.
func (l *sharedLimits) release() {
	for _, key := range l.keys {
		_, _ = limitsPool.Delete(key)
	}
	l.keys = nil
}

// verifier builds the secret verifier over the shared limits: bcrypt and
// argon2id as `caddy hash-password` makes them.
func (l *sharedLimits) verifier() *secrets.Verifier {
	bcrypt := caddyauth.BcryptHash{}
	return secrets.New(secrets.Options{
		Bcrypt:   bcrypt,
		Argon2id: caddyauth.Argon2idHash{},
		FakeHash: bcrypt.FakeHash(),
		Cache:    l.cache,
		Slots:    l.slots,
	})
}
