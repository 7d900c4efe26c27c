package caddyoauth2

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// stepClock is a clock that a test steps by hand: each After hands the test
// the wait it was asked for and a channel the test fires.
type stepClock struct {
	now    time.Time
	waits  chan time.Duration
	alarms chan chan time.Time
}

func newStepClock() *stepClock {
	return &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		waits: make(chan time.Duration, 1), alarms: make(chan chan time.Time, 1)}
}

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) After(d time.Duration) <-chan time.Time {
	alarm := make(chan time.Time, 1)
	c.waits <- d
	c.alarms <- alarm
	return alarm
}

// step waits for the loop to ask for a wait, checks its length, and ends it.
func (c *stepClock) step(t *testing.T, want time.Duration) {
	t.Helper()
	select {
	case got := <-c.waits:
		assert.Equal(t, want, got)
	case <-time.After(5 * time.Second):
		t.Fatal("the purge loop did not wait")
	}
	c.now = c.now.Add(want)
	(<-c.alarms) <- c.now
}

// recordingStore is a purger that reports each call on a channel.
type recordingStore struct {
	calls   chan [2]time.Time
	deleted int
	err     error
}

func (s *recordingStore) Purge(_ context.Context, now, revokedBefore time.Time) (int, error) {
	s.calls <- [2]time.Time{now, revokedBefore}
	return s.deleted, s.err
}

func TestPurge_RunsEveryIntervalUntilTheConfigStops(t *testing.T) {
	clk := newStepClock()
	store := &recordingStore{calls: make(chan [2]time.Time, 1), deleted: 3}
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		purge(ctx, zap.New(core), store, 6*time.Hour, time.Hour, clk)
		close(done)
	}()

	clk.step(t, time.Minute) // the first purge comes within a minute of loading
	first := <-store.calls
	assert.Equal(t, clk.now, first[0])
	assert.Equal(t, clk.now.Add(-time.Hour), first[1], "revoked families are kept one access token lifetime")

	clk.step(t, 6*time.Hour) // then every interval
	<-store.calls

	<-clk.waits // the loop waits for the next interval ...
	assert.Equal(t, 2, logs.FilterMessage("purged token state").Len())
	stop() // ... when the config stops
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the purge loop did not stop with its context")
	}
	assert.Empty(t, store.calls, "no purge runs once the config's context has ended")
}

func TestPurge_LogsFailures(t *testing.T) {
	clk := newStepClock()
	store := &recordingStore{calls: make(chan [2]time.Time, 1), err: errors.New("disk full")}
	core, logs := observer.New(zapcore.InfoLevel)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	go purge(ctx, zap.New(core), store, time.Hour, time.Hour, clk)

	clk.step(t, time.Minute)
	<-store.calls
	<-clk.waits // the loop went on after the failure
	failures := logs.FilterMessage("purging token state").All()
	require.Len(t, failures, 1)
	assert.Equal(t, "disk full", failures[0].ContextMap()["error"])
}

// purge_interval: the default is an hour, off turns purging off.
func TestResolve_PurgeInterval(t *testing.T) {
	for interval, want := range map[caddy.Duration]time.Duration{
		0:                                DefaultPurgeInterval,
		caddy.Duration(10 * time.Minute): 10 * time.Minute,
		-1:                               0, // purge_interval off
	} {
		cfg, err := (&TokenHandler{PurgeInterval: interval}).resolve(caddy.NewReplacer())
		require.NoError(t, err)
		assert.Equal(t, want, cfg.purgeInterval, "purge_interval %v", interval)
	}
}
