package secrets

import (
	"context"
	"sync/atomic"
	"time"
)

// Slots bounds how many hash comparisons run at once. A bcrypt check at
// cost 14 takes about a second of one core and an argon2id check with
// Caddy's defaults 46 MiB: unbounded, a few wrong guesses per second take
// every core and gigabytes of memory from the requests that need no hash.
// Give one Slots to every Verifier of a process so that the bound is the
// process's. A nil *Slots bounds nothing.
type Slots struct {
	sem chan struct{}
}

// NewSlots returns n slots, at least one.
func NewSlots(n int) *Slots {
	return &Slots{sem: make(chan struct{}, max(n, 1))}
}

// Size returns the number of slots.
func (s *Slots) Size() int { return cap(s.sem) }

// InUse returns how many slots are taken now, for metrics.
func (s *Slots) InUse() int { return len(s.sem) }

// running and waiting count the hash checks of the process, in every
// Slots, for the metrics.
var running, waiting atomic.Int64

// Running returns how many hash checks run now in the process.
func Running() int64 { return running.Load() }

// Waiting returns how many hash checks wait for a slot now in the process.
func Waiting() int64 { return waiting.Load() }

// acquire takes a slot, waiting at most wait, and returns its release.
func (s *Slots) acquire(ctx context.Context, wait time.Duration) (release func(), err error) {
	if s == nil {
		running.Add(1)
		return func() { running.Add(-1) }, nil
	}
	select {
	case s.sem <- struct{}{}:
		running.Add(1)
		return s.release, nil
	default:
	}
	waiting.Add(1)
	defer waiting.Add(-1)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case s.sem <- struct{}{}:
		running.Add(1)
		return s.release, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Slots) release() {
	running.Add(-1)
	<-s.sem
}
