package file

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Watched is a definitions file that is read again when it changes, so that
// an edit, by hand or with `caddy oauth2 client add`, takes effect without a
// `caddy reload` (which would find Caddy's config unchanged and do nothing).
//
// Lookups go to the definitions in effect, held behind an atomic pointer: a
// lookup never waits for a check or a parse, and sees the whole of one
// version of the file, never a part of two. Check replaces that version only
// with a file that is valid as a whole, as Load would accept it; a broken
// edit leaves the last good definitions in effect.
//
// Watched is safe for concurrent use.
type Watched struct {
	path string
	defs atomic.Pointer[Definitions]

	// mu serializes Check and guards the fields below.
	mu sync.Mutex
	// seen is the info of the file as last read, valid or not; nil when it
	// could not be read, so that the next Check reads it whatever its info.
	// It is settled when it was taken long enough after the file's
	// modification time that a later write must change that time.
	seen    fs.FileInfo
	settled bool
	// seenSum is the SHA-256 of the bytes last read, valid or not: reading
	// them again is no news, even if they are broken. goodSum is that of the
	// bytes the definitions in effect came from.
	seenSum, goodSum [sha256.Size]byte
	// failed is the error last returned for a file that could not be read,
	// so that a file that stays missing is reported once.
	failed string
}

// mtimeGranularity is how long after its modification time a file's info is
// trusted to tell every later change. A file is stamped with a coarse clock
// (ticks of a few milliseconds on Linux, one second on some filesystems, two
// on FAT), so an editor that saves twice within one tick leaves the same
// time; if the two versions also have the same size and the second is
// written in place, nothing in the info tells them apart. Check therefore
// reads the file again, and compares its hash, at every check until its
// time is older than this; only then does an unchanged info mean an
// unchanged file. The cost is a read or two after each edit.
//
// What a check cannot see: a file rewritten in place to the same size whose
// modification time is then set back to exactly the one seen (touch -r,
// cp -p or rsync --inplace -t over the file itself), and, on a network
// filesystem whose server clock is behind this machine's by more than this,
// two same-size saves in place within one tick. Replacing the file by a
// rename, as Document.Save and most editors do, gives it a new identity and
// is always seen. A check that reads the file while an editor is still
// writing it in place may report a truncated file; the finished write
// changes the file's size or time and the next check takes it.
const mtimeGranularity = 2 * time.Second

// LoadWatched reads and validates the definitions file at path, as Load
// does, and returns it ready to be checked for changes. A missing or invalid
// file is an error. LoadWatched starts nothing: call Run, or Check.
func LoadWatched(path string) (*Watched, error) {
	start := time.Now()
	data, fi, err := readFileInfo(path)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("definitions file %s is larger than %d MiB", path, MaxSize>>20)
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("definitions file %s: %w", path, err)
	}
	w := &Watched{path: path}
	w.defs.Store(d)
	w.remember(fi, start, sha256.Sum256(data))
	w.goodSum = w.seenSum
	return w, nil
}

// Check looks at the file and, if it changed and is valid, swaps in its
// definitions and reports changed. Most checks only stat the file: it is read
// when its identity (a rename puts a new file in its place), size or
// modification time differ from the last read, or that read was too soon
// after the file was written to trust its time (see mtimeGranularity).
//
// An error means the definitions in effect were kept: the file is invalid,
// and the error names the path and the line and column or the entries at
// fault, or it could not be read (it was deleted, say), and the error names
// the path and the cause. Each problem is reported once: a Check that finds
// the same broken bytes, or the same failure to read, returns false, nil, and
// so does one that finds the bytes of the definitions in effect (the file was
// touched, rewritten unchanged, or an edit was undone).
func (w *Watched) Check() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	// 1. Stat the file, which is all that most checks do.
	fi, err := os.Stat(w.path)
	if err != nil {
		return false, w.fail(fmt.Errorf("checking definitions file: %w", err))
	}
	if w.unchanged(fi) {
		return false, nil
	}

	// 2. Read it, and remember what was read, valid or not, so that the
	// next check compares with it.
	start := time.Now()
	data, fi, err := readFileInfo(w.path)
	if err != nil {
		return false, w.fail(err)
	}
	w.failed = ""
	sum, last := sha256.Sum256(data), w.seenSum
	w.remember(fi, start, sum)

	// 3. Bytes already seen are no news: the file was touched or rewritten
	// as it was, or it is the broken edit the last check reported.
	if sum == last || sum == w.goodSum {
		return false, nil
	}

	// 4. Parse and validate as Load does, and swap only a valid file in.
	d, err := Parse(data)
	if err != nil {
		return false, fmt.Errorf("definitions file %s: %w", w.path, err)
	}
	w.defs.Store(d)
	w.goodSum = sum
	return true, nil
}

// unchanged reports whether fi, from a stat of the file, is the info of the
// file last read, and that info can be trusted.
func (w *Watched) unchanged(fi fs.FileInfo) bool {
	return w.seen != nil && w.settled &&
		os.SameFile(w.seen, fi) && fi.Size() == w.seen.Size() && fi.ModTime().Equal(w.seen.ModTime())
}

// remember records fi and sum as those of the file read at start.
func (w *Watched) remember(fi fs.FileInfo, start time.Time, sum [sha256.Size]byte) {
	w.seen, w.seenSum = fi, sum
	w.settled = start.Sub(fi.ModTime()) > mtimeGranularity
}

// fail forgets the file last read, so that the file is read as new when it
// can be again, and returns err unless it is the one last returned.
func (w *Watched) fail(err error) error {
	w.seen, w.seenSum = nil, [sha256.Size]byte{}
	if msg := err.Error(); msg != w.failed {
		w.failed = msg
		return err
	}
	return nil
}

// Run calls Check every interval until ctx is done, and calls report after
// each check that swapped in new definitions (changed) or failed (err, with
// the last good definitions kept), from Run's goroutine, one call at a time.
// Each problem is reported once (see Check). Run returns when ctx is done,
// at the latest when a check under way ends; run it in its own goroutine.
// The interval must be positive, as for time.NewTicker.
//
// Run leaves logging to report, so that this package depends on no logger.
func (w *Watched) Run(ctx context.Context, interval time.Duration, report func(changed bool, err error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A tick and the end may both be ready, and select picks either.
		if ctx.Err() != nil {
			return
		}
		if changed, err := w.Check(); changed || err != nil {
			report(changed, err)
		}
	}
}

// Current returns the definitions in effect. Each lookup on w reads them
// anew, so two lookups may straddle a swap; a caller that needs several
// answers from one version of the file asks them of Current's result.
func (w *Watched) Current() *Definitions {
	return w.defs.Load()
}

// Client returns a copy of the client with the given id in the definitions
// in effect, or repos.ErrNotFound.
func (w *Watched) Client(ctx context.Context, id string) (*repos.Client, error) {
	return w.defs.Load().Client(ctx, id)
}

// UserByUsername returns a copy of the user with the given username in the
// definitions in effect, or repos.ErrNotFound.
func (w *Watched) UserByUsername(ctx context.Context, username string) (*repos.User, error) {
	return w.defs.Load().UserByUsername(ctx, username)
}

// UserByID returns a copy of the user with the given id in the definitions in
// effect, or repos.ErrNotFound.
func (w *Watched) UserByID(ctx context.Context, id string) (*repos.User, error) {
	return w.defs.Load().UserByID(ctx, id)
}

// Scope returns a copy of the scope with the given id in the definitions in
// effect, or repos.ErrNotFound.
func (w *Watched) Scope(ctx context.Context, id string) (*repos.Scope, error) {
	return w.defs.Load().Scope(ctx, id)
}

// Interface guard.
var _ repos.Definitions = (*Watched)(nil)
