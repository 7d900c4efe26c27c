package sql

import (
	"context"
	dbsql "database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// maxBatch bounds how many token writes share one transaction, so that one
// commit's latency stays bounded however deep the queue is.
const maxBatch = 64

// maxYields bounds how many times collect yields for more writes.
const maxYields = 4

// errStoreClosed answers writes submitted after Close.
var errStoreClosed = errors.New("token store is closed")

// writeFunc is the body of one token write. It runs inside a transaction that
// other writes share; it must have no effect outside tx, because after an
// unexpected error it is run again in a transaction of its own.
type writeFunc func(ctx context.Context, tx *dbsql.Tx) error

type writeOp struct {
	ctx    context.Context
	fn     writeFunc
	result chan error
}

// batcher runs token writes through one goroutine that commits every write
// queued while the previous commit ran in a single transaction (group commit).
// A commit costs far more than the statements of one rotation, and the
// database admits one writer at a time anyway, so under load this multiplies
// throughput; a lone write still commits at once. No caller gets an answer
// before its write is durable.
type batcher struct {
	db   *dbsql.DB
	opts *dbsql.TxOptions
	// retryable reports whether a failed transaction may succeed if run again
	// (a deadlock the database broke by aborting it).
	retryable func(error) bool
	// unavailable marks the errors that say the database could not answer.
	unavailable func(error) error
	ops         chan *writeOp
	stop        chan struct{}
	done        chan struct{}
	once        sync.Once
}

func newBatcher(db *dbsql.DB, opts *dbsql.TxOptions, retryable func(error) bool, unavailable func(error) error) *batcher {
	b := &batcher{
		db:          db,
		opts:        opts,
		retryable:   retryable,
		unavailable: unavailable,
		ops:         make(chan *writeOp),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go b.loop()
	return b
}

// do runs fn in the next batch and returns its result once that batch has
// committed, or ctx's error (marked repos.ErrUnavailable) as soon as ctx
// ends: a request never waits past its deadline (DESIGN.md §6a). A write
// whose ctx ended is not committed, unless its COMMIT was already sent; the
// client then got a 503 for a rotation that took place, and the reuse
// interval (§5a) lets its retry through.
func (b *batcher) do(ctx context.Context, fn writeFunc) error {
	op := &writeOp{ctx: ctx, fn: fn, result: make(chan error, 1)}
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return b.unavailable(ctx.Err())
	case <-b.stop:
		return errStoreClosed
	}
	select {
	case err := <-op.result:
		return b.unavailable(err)
	case <-ctx.Done():
		return b.unavailable(ctx.Err())
	}
}

// close stops the loop after the batch in progress.
func (b *batcher) close() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-b.ops:
			batch = append(batch[:0], op)
		case <-b.stop:
			return
		}
		batch = b.collect(batch)
		b.run(batch)
	}
}

// collect adds to batch the writes already waiting and, while that keeps
// finding more, yields the processor a few times so that requests which are
// about to write (signing their tokens, say) can join: on a busy server one
// commit then carries many writes, which saves far more CPU than the yields
// cost. On an idle server a yield returns at once and nothing waits. A timer
// would do worse: its granularity here is a millisecond, a long wait for a
// lone client refreshing in a loop.
func (b *batcher) collect(batch []*writeOp) []*writeOp {
	batch = b.drain(batch)
	for range maxYields {
		if len(batch) >= maxBatch {
			break
		}
		runtime.Gosched()
		n := len(batch)
		if batch = b.drain(batch); len(batch) == n {
			break
		}
	}
	return batch
}

// drain adds the writes waiting right now, up to maxBatch.
func (b *batcher) drain(batch []*writeOp) []*writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-b.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// run executes a batch in one transaction. A write whose request has ended
// is left out: before the batch runs, and again just before its COMMIT is
// sent, since a write in the transaction cannot be taken out alone; the
// transaction is then rolled back and run again without it. If any write
// fails unexpectedly, the whole transaction is rolled back (a failed write
// may have half-applied) and every write of the batch runs again alone, so
// one bad write cannot take the others down with it. So does a failed
// COMMIT, although over a network the commit may have happened with its
// answer lost: every write is safe to run again after its own commit. A
// rotation run again finds its successor recorded and succeeds
// (Store.refuseRotation), a revocation or purge finds its work done, and an
// Issue finds its ids taken and fails, which costs the user a new login, not
// a family. Each write run alone waits at most until its own deadline, so a
// failed batch never makes its writes wait longer than their requests allow.
func (b *batcher) run(batch []*writeOp) {
	for {
		batch = b.liveOnly(batch)
		switch len(batch) {
		case 0:
			return
		case 1:
			batch[0].result <- b.runAlone(batch[0])
			return
		}
		results := make([]error, len(batch))
		txCtx, cancel := batchContext(batch)
		err := b.inTx(txCtx, func(ctx context.Context, tx *dbsql.Tx) error {
			for i, op := range batch {
				results[i] = op.fn(ctx, tx)
				if results[i] != nil && !isOutcome(results[i]) {
					return results[i]
				}
			}
			if anyEnded(batch) {
				return errWriteEnded
			}
			return nil
		})
		cancel()
		switch {
		case errors.Is(err, errWriteEnded):
			continue // again, without the writes whose requests ended
		case err != nil:
			for _, op := range batch {
				op.result <- b.runAlone(op)
			}
		default:
			for i, op := range batch {
				op.result <- results[i]
			}
		}
		return
	}
}

// errWriteEnded rolls back a batch in which a write's request ended before
// the COMMIT was sent.
var errWriteEnded = errors.New("a write's request ended before its commit")

// liveOnly answers the writes whose requests have ended with their error and
// returns the others.
func (b *batcher) liveOnly(batch []*writeOp) []*writeOp {
	live := batch[:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.result <- err
			continue
		}
		live = append(live, op)
	}
	return live
}

func anyEnded(batch []*writeOp) bool {
	for _, op := range batch {
		if op.ctx.Err() != nil {
			return true
		}
	}
	return false
}

// batchContext bounds a batch's transaction by the latest deadline of its
// writes: a database that stops answering fails the batch when no write is
// waiting for it any more, instead of holding the one writer forever.
// Without a deadline on every write, it has none.
func batchContext(batch []*writeOp) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, op := range batch {
		d, ok := op.ctx.Deadline()
		if !ok {
			return context.Background(), func() {}
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// maxAttempts bounds how often runAlone runs a write whose transaction the
// database aborted to break a deadlock.
const maxAttempts = 3

// runAlone runs one write in a transaction of its own, committing it if fn
// succeeded or reported an outcome (whose writes, such as a replay's family
// revocation, must persist) and rolling it back otherwise. A server database
// may abort a transaction to break a deadlock with another instance's; the
// write then runs again, as the database expects.
func (b *batcher) runAlone(op *writeOp) error {
	for attempt := 1; ; attempt++ {
		if err := op.ctx.Err(); err != nil {
			return err
		}
		var result error
		err := b.inTx(op.ctx, func(ctx context.Context, tx *dbsql.Tx) error {
			result = op.fn(ctx, tx)
			if result != nil && !isOutcome(result) {
				return result
			}
			if err := op.ctx.Err(); err != nil {
				return err // its request ended: do not commit
			}
			return nil
		})
		if err == nil {
			return result
		}
		if attempt == maxAttempts || b.retryable == nil || !b.retryable(err) {
			return err
		}
	}
}

// inTx runs body in a transaction, committing if it returns nil.
func (b *batcher) inTx(ctx context.Context, body func(ctx context.Context, tx *dbsql.Tx) error) error {
	tx, err := b.db.BeginTx(ctx, b.opts)
	if err != nil {
		return fmt.Errorf("beginning token write: %w", err)
	}
	if err := body(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return &commitError{err}
	}
	return nil
}

// commitError is a failed COMMIT, whose writes may or may not have been
// made durable.
type commitError struct{ err error }

func (e *commitError) Error() string { return "committing token write: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// isOutcome reports whether err is an answer about the token rather than a
// failure: the transaction that produced it is sound and is committed.
func isOutcome(err error) bool {
	return errors.Is(err, repos.ErrTokenUsed) || errors.Is(err, repos.ErrTokenRevoked) ||
		errors.Is(err, repos.ErrTokenExpired) || errors.Is(err, repos.ErrNotFound)
}
