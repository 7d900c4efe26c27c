package caddyoauth2

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// DefaultPurgeInterval is how often expired and revoked token state is
// deleted when purge_interval is not set.
const DefaultPurgeInterval = time.Hour

// minPurgeInterval keeps a mistyped interval (1ns in JSON, say) from making
// the purge a busy loop.
const minPurgeInterval = time.Minute

// maxFirstPurgeDelay bounds the wait for the first purge after a config
// loads, so that a server restarted or reloaded more often than the interval
// still purges.
const maxFirstPurgeDelay = time.Minute

// purger is a token store that can delete the state no request needs any
// more; every SQL store is one.
type purger interface {
	Purge(ctx context.Context, now, revokedBefore time.Time) (deleted int, err error)
}

// startPurge runs the purge of store in the background until ctx, the
// config's context, ends: when Caddy stops or a reload replaces this config,
// whose successor starts its own. Revoked families are kept for one access
// token lifetime, so that the access tokens recorded in them are reported
// revoked until they expire. It reports whether it started.
func (h *TokenHandler) startPurge(ctx context.Context, store repos.TokenStore, accessTTL time.Duration) bool {
	p, ok := store.(purger)
	interval := time.Duration(h.PurgeInterval)
	if interval == 0 {
		interval = DefaultPurgeInterval
	}
	if !ok || interval < 0 {
		return false
	}
	go func() {
		timer := time.NewTimer(min(interval, maxFirstPurgeDelay))
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			start := time.Now()
			deleted, err := p.Purge(ctx, start, start.Add(-accessTTL))
			switch {
			case err != nil && ctx.Err() == nil:
				h.logger.Error("purging token state", zap.Error(err), zap.Int("deleted", deleted))
			case deleted > 0:
				h.logger.Info("purged token state", zap.Int("refresh_tokens", deleted),
					zap.Duration("took", time.Since(start)))
			}
			timer.Reset(interval)
		}
	}()
	return true
}
