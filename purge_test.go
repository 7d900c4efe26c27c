package caddyoauth2

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

func TestPurge_RunsInTheBackgroundUntilTheConfigStops(t *testing.T) {
	store, err := reposql.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	expired := func(id string) repos.RefreshToken {
		return repos.RefreshToken{ID: id, FamilyID: "f-" + id, ClientID: "web",
			ExpiresAt: time.Now().Add(-time.Hour), AccessTokenID: "at-" + id}
	}
	gone := func(id string) bool {
		_, _, err := store.RefreshTokenState(context.Background(), id)
		return err != nil
	}

	h := &TokenHandler{PurgeInterval: caddy.Duration(10 * time.Millisecond), logger: zap.NewNop()}
	ctx, stop := context.WithCancel(t.Context())
	require.NoError(t, store.Issue(ctx, expired("before")))
	require.True(t, h.startPurge(ctx, store, time.Hour))
	assert.Eventually(t, func() bool { return gone("before") }, 5*time.Second, 5*time.Millisecond,
		"the expired token is purged")

	require.NoError(t, store.Issue(ctx, expired("during")))
	assert.Eventually(t, func() bool { return gone("during") }, 5*time.Second, 5*time.Millisecond,
		"purging goes on at every interval")

	stop()
	time.Sleep(20 * time.Millisecond) // a purge in progress finishes
	require.NoError(t, store.Issue(t.Context(), expired("after")))
	time.Sleep(100 * time.Millisecond)
	assert.False(t, gone("after"), "no purge runs once the config's context has ended")
}

func TestPurge_StartsUnlessOff(t *testing.T) {
	store, err := reposql.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	for interval, want := range map[caddy.Duration]bool{
		0:                           true, // the default
		caddy.Duration(time.Minute): true,
		-1:                          false, // purge_interval off
	} {
		h := &TokenHandler{PurgeInterval: interval, logger: zap.NewNop()}
		assert.Equal(t, want, h.startPurge(t.Context(), store, time.Hour), "purge_interval %v", interval)
	}
}
