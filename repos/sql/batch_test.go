package sql

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Writes that share a batch must not share a fate: a rotation that fails
// unexpectedly (here, a successor id that is taken) is rolled back alone, and
// the rotations committed beside it stand.
func TestBatch_OneFailedWriteDoesNotSinkItsBatch(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx := t.Context()
	now := time.Now()

	const n = 40
	olds := make([]repos.RefreshToken, n)
	for i := range olds {
		olds[i] = benchToken(benchID(), now)
		require.NoError(t, s.Issue(ctx, olds[i]))
	}
	taken := benchToken(benchID(), now)
	require.NoError(t, s.Issue(ctx, taken))

	const bad = 17
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := benchToken(olds[i].FamilyID, now)
			if i == bad {
				next.ID = taken.ID
			}
			<-start
			errs[i] = s.Rotate(ctx, olds[i].ID, now, next)
		}()
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		used, revoked, serr := s.RefreshTokenState(ctx, olds[i].ID)
		require.NoError(t, serr)
		assert.False(t, revoked)
		if i == bad {
			assert.ErrorIs(t, err, repos.ErrDuplicate)
			assert.False(t, used, "the failed rotation must leave its token unused")
			continue
		}
		assert.NoError(t, err, "rotation %d", i)
		assert.True(t, used, "rotation %d", i)
	}
}

// A write whose caller has given up before its batch starts writes nothing.
func TestBatch_CancelledBeforeItRunsWritesNothing(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := benchToken(benchID(), time.Now())
	assert.ErrorIs(t, s.Issue(ctx, r), context.Canceled)
	_, _, err := s.RefreshTokenState(t.Context(), r.ID)
	assert.ErrorIs(t, err, repos.ErrNotFound)
}

func TestBatch_WritesAfterCloseFail(t *testing.T) {
	s, err := Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "oauth2.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Issue(t.Context(), benchToken(benchID(), time.Now())), errStoreClosed)
}
