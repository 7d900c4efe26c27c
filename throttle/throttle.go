// Package throttle slows down guessing: it counts failed authentications per
// (account, IP) and per IP in a window, and locks a pair or an IP that
// reaches its limit for a while, so that a locked guesser is refused before
// any password hash is computed. State is in memory and bounded; it knows
// nothing of HTTP or Caddy.
package throttle

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of DESIGN.md §6a.
const (
	DefaultFailures   = 5
	DefaultIPFailures = 50
	DefaultWindow     = 5 * time.Minute
	DefaultLock       = 5 * time.Minute
	// DefaultMaxEntries bounds the memory a flood of distinct accounts and
	// addresses can take: about 100 bytes each.
	DefaultMaxEntries = 100_000
)

// Config is a Limiter's limits. Zero fields take the defaults.
type Config struct {
	// Failures locks an (account, IP) pair after this many failures in
	// Window.
	Failures int
	// IPFailures locks an IP after this many failures in Window, whatever
	// account they were for, unknown ones included.
	IPFailures int
	Window     time.Duration
	// Lock is how long a locked pair or IP stays locked.
	Lock       time.Duration
	MaxEntries int
}

func (c Config) withDefaults() Config {
	if c.Failures <= 0 {
		c.Failures = DefaultFailures
	}
	if c.IPFailures <= 0 {
		c.IPFailures = DefaultIPFailures
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Lock <= 0 {
		c.Lock = DefaultLock
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	return c
}

// Account names what a failure was for: a client id or a username, of a
// kind (0 and 1 keep a client and a user of one name apart).
type Account struct {
	Kind byte
	ID   string
}

// key is an entry's name: the account's digest (so that a 64 KiB id costs
// what a short one does) and the IP; an IP's own entry has no account.
type key struct {
	kind    byte
	account [sha256.Size]byte
	ip      string
}

// entry counts the failures of one key in its window.
type entry struct {
	failures    int
	windowStart time.Time
	lockedUntil time.Time
}

// Limiter is the failure counter. It is safe for concurrent use.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	entries map[key]*entry
}

// New returns a Limiter with cfg's limits.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg.withDefaults(), entries: make(map[key]*entry)}
}

// Config returns the limits in force, defaults applied.
func (l *Limiter) Config() Config { return l.cfg }

// Locked reports whether the account at ip, or ip itself, is locked at now,
// and how long it stays locked.
func (l *Limiter) Locked(a Account, ip string, now time.Time) (retryAfter time.Duration, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []key{accountKey(a, ip), ipKey(ip)} {
		if e := l.entries[k]; e != nil && now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
	}
	return retryAfter, retryAfter > 0
}

// LockedIP reports whether ip is locked at now: for a failure that names no
// account anyone could lock (an unknown client id).
func (l *Limiter) LockedIP(ip string, now time.Time) (retryAfter time.Duration, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[ipKey(ip)]; e != nil && now.Before(e.lockedUntil) {
		return e.lockedUntil.Sub(now), true
	}
	return 0, false
}

// Failed records a failed authentication of the account at ip, and reports
// whether it locked the pair or the IP.
func (l *Limiter) Failed(a Account, ip string, now time.Time) (lockedNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pair := l.count(accountKey(a, ip), l.cfg.Failures, now)
	addr := l.count(ipKey(ip), l.cfg.IPFailures, now)
	return pair || addr
}

// FailedIP records a failure that names no account: it counts for the IP.
func (l *Limiter) FailedIP(ip string, now time.Time) (lockedNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count(ipKey(ip), l.cfg.IPFailures, now)
}

// Succeeded forgets the failures of the account at ip: the rightful owner
// got in, and the next typo should not lock them out.
func (l *Limiter) Succeeded(a Account, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, accountKey(a, ip))
}

// Len returns the number of entries kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// count adds a failure to k and locks it when it reaches limit. It must be
// called with l.mu held.
func (l *Limiter) count(k key, limit int, now time.Time) (lockedNow bool) {
	e := l.entries[k]
	if e == nil {
		l.makeRoom(now)
		e = &entry{windowStart: now}
		l.entries[k] = e
	}
	if now.Sub(e.windowStart) >= l.cfg.Window && !now.Before(e.lockedUntil) {
		e.failures, e.windowStart = 0, now
	}
	e.failures++
	if e.failures >= limit && !now.Before(e.lockedUntil) {
		e.lockedUntil = now.Add(l.cfg.Lock)
		return true
	}
	return false
}

// makeRoom keeps the map under MaxEntries: it drops the entries that count
// nothing any more, then, if that is not enough, arbitrary ones (a flood
// from many addresses forgets some counts rather than take the memory). It
// must be called with l.mu held.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.entries) < l.cfg.MaxEntries {
		return
	}
	for k, e := range l.entries {
		if now.Sub(e.windowStart) >= l.cfg.Window && !now.Before(e.lockedUntil) {
			delete(l.entries, k)
		}
	}
	for k := range l.entries {
		if len(l.entries) < l.cfg.MaxEntries*9/10 {
			break
		}
		delete(l.entries, k)
	}
}

func accountKey(a Account, ip string) key {
	return key{kind: a.Kind + 1, account: sha256.Sum256([]byte(a.ID)), ip: ip}
}

func ipKey(ip string) key { return key{ip: ip} }
