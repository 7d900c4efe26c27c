package sql

import (
	"context"
	dbsql "database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
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
			errs[i] = rotate(ctx, s, olds[i].ID, now, next)
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

// A batch whose COMMIT fails runs each write again alone, like a batch with a
// failed write: the writes that can commit do, and the one that cannot gets
// the commit's error. Here the COMMIT fails on a deferred foreign key.
// (Writes must be safe to run again after a COMMIT whose answer was lost;
// TestRotate_IdempotentAfterALostCommit checks rotations.)
func TestBatch_FailedCommitRunsEachWriteAlone(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`,
	} {
		_, err := s.write.ExecContext(ctx, q)
		require.NoError(t, err)
	}

	// The first write holds the writer until the others are queued, so they
	// form the next batch together.
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.writes.do(ctx, func(context.Context, *dbsql.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started

	const n = 8
	var calls [n]atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.writes.do(ctx, func(ctx context.Context, tx *dbsql.Tx) error {
				calls[i].Add(1)
				if i < n-1 {
					_, err := tx.ExecContext(ctx, `INSERT INTO parent DEFAULT VALUES`)
					return err
				}
				// A child without a parent: the COMMIT fails.
				_, err := tx.ExecContext(ctx, `INSERT INTO child (p) VALUES (999)`)
				return err
			})
		})
	}
	time.Sleep(100 * time.Millisecond) // let every write queue behind the first
	close(release)
	require.NoError(t, <-first)
	wg.Wait()

	for i := range n - 1 {
		assert.NoError(t, errs[i], "write %d", i)
		assert.Equal(t, int32(2), calls[i].Load(), "write %d ran in the batch, then alone", i)
	}
	var commitErr *commitError
	assert.ErrorAs(t, errs[n-1], &commitErr, "the write that cannot commit")
	var parents int
	require.NoError(t, s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM parent`).Scan(&parents))
	assert.Equal(t, n-1, parents, "each committed once")
}

// A rotation whose COMMIT succeeded but whose answer was lost is run again by
// the batcher: it must succeed, not take its own token for a replay and
// revoke the family. Running rotate twice in two transactions stands for it.
func TestRotate_IdempotentAfterALostCommit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		now := time.Now()
		first := benchToken(benchID(), now)
		require.NoError(t, s.Issue(ctx, first))
		next := benchToken(first.FamilyID, now)
		require.NoError(t, rotate(ctx, s, first.ID, now, next))
		require.NoError(t, rotate(ctx, s, first.ID, now, next), "the same rotation again")

		used, revoked, err := s.RefreshTokenState(ctx, next.ID)
		require.NoError(t, err)
		assert.False(t, used)
		assert.False(t, revoked, "the family stands")

		other := benchToken(first.FamilyID, now)
		assert.ErrorIs(t, rotate(ctx, s, first.ID, now, other), repos.ErrTokenUsed, "another successor is a replay")
		_, revoked, err = s.RefreshTokenState(ctx, next.ID)
		require.NoError(t, err)
		assert.True(t, revoked)
	})
}

// Retries that share a batch with a write that fails run again alone, as
// every write of such a batch does, and still all get the one successor.
func TestBatch_RetriesOfAFailedBatchShareOneSuccessor(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx := t.Context()
	now := time.Now()
	r1, taken := benchToken(benchID(), now), benchToken(benchID(), now)
	require.NoError(t, s.Issue(ctx, r1))
	require.NoError(t, s.Issue(ctx, taken))

	// The first write holds the writer until the others are queued, so they
	// form the next batch together.
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.writes.do(ctx, func(context.Context, *dbsql.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started

	const n = 8
	got, errs := make([]repos.RefreshToken, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.Rotate(ctx, repos.Rotation{OldID: r1.ID, Now: now, Next: benchToken(r1.FamilyID, now),
				ReuseInterval: time.Minute, AccessExpiresAt: now.Add(time.Hour)})
		})
	}
	var badErr error
	wg.Go(func() {
		bad := benchToken(taken.FamilyID, now)
		bad.ID = r1.ID
		badErr = rotate(ctx, s, taken.ID, now, bad)
	})
	time.Sleep(100 * time.Millisecond) // let every write queue behind the first
	close(release)
	require.NoError(t, <-first)
	wg.Wait()

	assert.ErrorIs(t, badErr, repos.ErrDuplicate)
	for i := range n {
		require.NoError(t, errs[i], "rotation %d", i)
		assert.Equal(t, got[0].ID, got[i].ID, "rotation %d", i)
	}
	used, revoked, err := s.RefreshTokenState(ctx, got[0].ID)
	require.NoError(t, err)
	assert.False(t, used)
	assert.False(t, revoked)
}

// A request that ends while its write is in a transaction gets its answer
// at once, and its write is not committed: the transaction is run again
// without it, and the writes beside it are committed.
func TestBatch_AWriteWhoseRequestEndsBeforeItsCommitIsLeftOut(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	ctx := t.Context()
	_, err := s.write.ExecContext(ctx, `CREATE TABLE marks (name TEXT PRIMARY KEY)`)
	require.NoError(t, err)

	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.writes.do(ctx, func(context.Context, *dbsql.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started

	// Each write marks its name; "gone" ends its own request from inside
	// the transaction, as a client that hangs up mid-write does.
	goneCtx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	names := []string{"a", "gone", "b"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		opCtx := ctx
		if name == "gone" {
			opCtx = goneCtx
		}
		wg.Go(func() {
			errs[i] = s.writes.do(opCtx, func(ctx context.Context, tx *dbsql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO marks (name) VALUES (?)`, name); err != nil {
					return err
				}
				if name == "gone" {
					hangUp()
				}
				return nil
			})
		})
	}
	time.Sleep(50 * time.Millisecond) // let the three queue behind the first
	close(release)
	require.NoError(t, <-first)
	wg.Wait()

	assert.NoError(t, errs[0])
	assert.NoError(t, errs[2])
	assert.ErrorIs(t, errs[1], context.Canceled)
	assert.ErrorIs(t, errs[1], repos.ErrUnavailable, "the server answers 503")
	var marked []string
	rows, err := s.write.QueryContext(ctx, `SELECT name FROM marks ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		marked = append(marked, n)
	}
	assert.Equal(t, []string{"a", "b"}, marked, "the ended request's write was not committed")
}

// A request whose write waits behind a stuck one answers at its deadline,
// not when the writer is free again.
func TestBatch_ARequestNeverWaitsPastItsDeadline(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "oauth2.db"))
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = s.writes.do(t.Context(), func(context.Context, *dbsql.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	defer close(release)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Issue(ctx, benchToken(benchID(), time.Now()))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, repos.ErrUnavailable)
	assert.Less(t, time.Since(start), time.Second)
}
