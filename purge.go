package caddyoauth2

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// maxFirstPurgeDelay bounds the wait for the first purge after a config
// loads, so that a server restarted or reloaded more often than the interval
// still purges.
const maxFirstPurgeDelay = time.Minute

// purger is a token store that can delete the state no request needs any
// more; every SQL store is one.
type purger interface {
	Purge(ctx context.Context, now, revokedBefore time.Time) (deleted int, err error)
}

// clock is what the purge loop needs of time, so that a test can step it
// instead of sleeping.
type clock interface {
	Now() time.Time
	// After delivers once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the clock of the running server.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// purge deletes expired and revoked token state from store every interval
// until ctx, the config's context, ends: when Caddy stops or a reload
// replaces this config, whose successor starts its own loop. Revoked families
// are kept for keepRevoked, one access token lifetime, so that the access
// tokens recorded in them are reported revoked until they expire.
func purge(ctx context.Context, logger *zap.Logger, store purger, interval, keepRevoked time.Duration, clk clock) {
	wait := min(interval, maxFirstPurgeDelay)
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(wait):
		}
		wait = interval
		start := clk.Now()
		deleted, err := store.Purge(ctx, start, start.Add(-keepRevoked))
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("purging token state", zap.Error(err), zap.Int("deleted", deleted))
		case deleted > 0:
			logger.Info("purged token state", zap.Int("refresh_tokens", deleted),
				zap.Duration("took", clk.Now().Sub(start)))
		}
	}
}
