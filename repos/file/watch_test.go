package file

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// defsFile renders a definitions file, laid out as Document.Save writes it,
// whose one client "web" has the given name and the scope "s-"+name.
func defsFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := (&Document{
		Scopes:  []repos.Scope{{ID: "s-" + name}},
		Clients: []repos.Client{{ID: "web", Name: name, Scopes: []string{"s-" + name}}},
	}).Marshal()
	require.NoError(t, err)
	return data
}

// watchedFile writes data to a fresh definitions file and loads it.
func watchedFile(t *testing.T, data []byte) (*Watched, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "defs.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	w, err := LoadWatched(path)
	require.NoError(t, err)
	return w, path
}

// clientName is the name of client "web" in the definitions in effect.
func clientName(t *testing.T, d repos.Definitions) string {
	t.Helper()
	c, err := d.Client(t.Context(), "web")
	require.NoError(t, err)
	return c.Name
}

// requireChecked calls Check and requires its answer.
func requireChecked(t *testing.T, w *Watched, wantChanged bool) {
	t.Helper()
	changed, err := w.Check()
	require.NoError(t, err)
	require.Equal(t, wantChanged, changed)
}

func TestLoadWatched_RejectsAMissingOrInvalidFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
		return path
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "missing.json"), "missing.json: no such file"},
		{"invalid JSON", write("syntax.json", "{\n  \"clients\": [,]\n}"), "syntax.json: line 2, column 15"},
		{"invalid entry", write("entry.json", `{"clients": [{"id": ""}]}`), `entry.json: clients[0] "": id is empty`},
		{"oversize file", write("big.json", `{"scopes": [`+string(make([]byte, MaxSize))), "is larger than 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := LoadWatched(tt.path)
			require.Error(t, err)
			assert.Nil(t, w)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestWatched_SeesAnEdit(t *testing.T) {
	tests := []struct {
		name string
		// edit changes client web's name to "v2" in the file at path.
		edit func(t *testing.T, path string)
	}{
		{"written in place by hand", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, defsFile(t, "v2"), 0o600))
		}},
		{"saved through Document, as the CLI does (temporary file and rename)", func(t *testing.T, path string) {
			doc, err := ReadDocument(path)
			require.NoError(t, err)
			doc.Scopes[0].ID = "s-v2"
			doc.Clients[0].Name, doc.Clients[0].Scopes = "v2", []string{"s-v2"}
			require.NoError(t, doc.Save(path))
		}},
		{"same size and time, but a new file renamed over it", func(t *testing.T, path string) {
			old, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, writeAtomic(path, defsFile(t, "v2"), 0o600, nil))
			require.NoError(t, os.Chtimes(path, old.ModTime(), old.ModTime()))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := watchedFile(t, defsFile(t, "v1"))
			// The same length as v2, and long settled: only the new
			// identity or time tells the change.
			settle(t, path)
			requireChecked(t, w, false)

			tt.edit(t, path)
			requireChecked(t, w, true)
			assert.Equal(t, "v2", clientName(t, w))
			_, err := w.Scope(t.Context(), "s-v2")
			assert.NoError(t, err)
			_, err = w.Scope(t.Context(), "s-v1")
			assert.ErrorIs(t, err, repos.ErrNotFound, "the old file is gone as a whole")

			requireChecked(t, w, false)
		})
	}
}

// TestWatched_SeesAnEditCommittedBySwappingASymlink: a Kubernetes ConfigMap
// is mounted as a symbolic link into a directory that is itself a link,
// which the kubelet retargets.
func TestWatched_SeesAnEditCommittedBySwappingASymlink(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, ".."+v), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".."+v, "defs.json"), defsFile(t, v), 0o600))
	}
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	path := filepath.Join(dir, "defs.json")
	require.NoError(t, os.Symlink(filepath.Join("..data", "defs.json"), path))
	w, err := LoadWatched(path)
	require.NoError(t, err)
	requireChecked(t, w, false)

	require.NoError(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	requireChecked(t, w, true)
	assert.Equal(t, "v2", clientName(t, w))
}

func TestWatched_KeepsTheLastGoodDefinitionsOnABrokenEdit(t *testing.T) {
	tests := []struct {
		name, broken, want string
	}{
		{"invalid JSON", "{\n  \"clients\": [\n    {\"id\": \"web\",}\n  ]\n}", "line 3, column 18: invalid character '}'"},
		{"wrong type", `{"clients": [{"id": "web", "scopes": "read"}]}`, "clients.scopes must be []string, not string"},
		{"duplicate client id", `{"clients": [{"id": "web"}, {"id": "web"}]}`, `clients[1] "web": duplicate id`},
		{"undeclared scope", `{"clients": [{"id": "web", "scopes": ["admin"]}]}`, `clients[0] "web": scopes[0]: scope "admin" is not declared`},
		{"empty file", ``, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := watchedFile(t, defsFile(t, "v1"))
			require.NoError(t, os.WriteFile(path, []byte(tt.broken), 0o600))

			changed, err := w.Check()
			require.Error(t, err)
			assert.False(t, changed)
			assert.Contains(t, err.Error(), "definitions file "+path+": ")
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, "v1", clientName(t, w), "the last good definitions stay in effect")

			requireChecked(t, w, false) // reported once
			require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Second)))
			requireChecked(t, w, false) // touched, still the same broken bytes

			require.NoError(t, os.WriteFile(path, defsFile(t, "v2"), 0o600))
			requireChecked(t, w, true)
			assert.Equal(t, "v2", clientName(t, w), "a good edit recovers")
		})
	}
}

func TestWatched_KeepsTheLastGoodDefinitionsWhenTheFileIsDeleted(t *testing.T) {
	w, path := watchedFile(t, defsFile(t, "v1"))
	require.NoError(t, os.Remove(path))

	changed, err := w.Check()
	assert.False(t, changed)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
	assert.Equal(t, "v1", clientName(t, w))
	requireChecked(t, w, false) // reported once

	require.NoError(t, os.WriteFile(path, defsFile(t, "v2"), 0o600))
	requireChecked(t, w, true)
	assert.Equal(t, "v2", clientName(t, w))
}

func TestWatched_ABrokenFileIsReportedAgainAfterBeingDeleted(t *testing.T) {
	w, path := watchedFile(t, defsFile(t, "v1"))
	broken := []byte(`{"clients": [{"id": ""}]}`)
	require.NoError(t, os.WriteFile(path, broken, 0o600))
	_, err := w.Check()
	require.Error(t, err)
	require.NoError(t, os.Remove(path))
	_, err = w.Check()
	require.ErrorIs(t, err, fs.ErrNotExist)

	// The last word was "missing": the broken file's return is news.
	require.NoError(t, os.WriteFile(path, broken, 0o600))
	_, err = w.Check()
	assert.ErrorContains(t, err, "id is empty")
}

func TestWatched_TheSameContentIsNoChange(t *testing.T) {
	tests := []struct {
		name string
		// rewrite writes data over the file at path.
		rewrite func(t *testing.T, path string, data []byte)
	}{
		{"rewritten in place", func(t *testing.T, path string, data []byte) {
			require.NoError(t, os.WriteFile(path, data, 0o600))
		}},
		{"saved through Document", func(t *testing.T, path string, _ []byte) {
			doc, err := ReadDocument(path)
			require.NoError(t, err)
			require.NoError(t, doc.Save(path))
		}},
		{"touched", func(t *testing.T, path string, _ []byte) {
			require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Second)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := defsFile(t, "v1")
			w, path := watchedFile(t, data)
			before := w.Current()

			tt.rewrite(t, path, data)
			requireChecked(t, w, false)
			assert.Same(t, before, w.Current(), "nothing swapped")
		})
	}
}

func TestWatched_ASecondSaveWithinTheSameTimestampIsSeen(t *testing.T) {
	tests := []struct {
		name        string
		mtime       time.Time
		wantChanged bool
	}{
		// Written just now: a second same-size save in place may share the
		// time, so the info is not trusted and the file is read again.
		{"recent file", time.Now(), true},
		// Settled long ago: the same identity, size and time mean the same
		// file, and the file is not read. Setting the time back by hand is
		// what Check cannot see (mtimeGranularity).
		{"settled file with its time set back by hand", time.Now().Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "defs.json")
			require.NoError(t, os.WriteFile(path, defsFile(t, "v1"), 0o600))
			require.NoError(t, os.Chtimes(path, tt.mtime, tt.mtime))
			w, err := LoadWatched(path)
			require.NoError(t, err)

			require.NoError(t, os.WriteFile(path, defsFile(t, "v2"), 0o600))
			require.NoError(t, os.Chtimes(path, tt.mtime, tt.mtime))
			requireChecked(t, w, tt.wantChanged)
		})
	}
}

// settle sets the file's modification time well in the past, as though it
// were written long before the check, so that its info is trusted.
func settle(t *testing.T, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(path, old, old))
}

func TestWatched_RunReportsChangesAndStopsWithItsContext(t *testing.T) {
	w, path := watchedFile(t, defsFile(t, "v1"))
	type report struct {
		changed bool
		err     error
	}
	reports := make(chan report, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, 10*time.Millisecond, func(changed bool, err error) { reports <- report{changed, err} })
	}()
	next := func() report {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(5 * time.Second):
			require.FailNow(t, "no report")
			return report{}
		}
	}

	// Written by rename, so that no check reads a half-written file.
	require.NoError(t, writeAtomic(path, defsFile(t, "v2"), 0o600, nil))
	assert.Equal(t, report{changed: true}, next())
	assert.Equal(t, "v2", clientName(t, w))

	require.NoError(t, writeAtomic(path, []byte(`{"clients": [{"id": ""}]}`), 0o600, nil))
	r := next()
	assert.False(t, r.changed)
	assert.ErrorContains(t, r.err, `clients[0] "": id is empty`)
	assert.Equal(t, "v2", clientName(t, w))

	cancel()
	assert.Eventually(t, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond, "Run returns when its context ends")
	assert.Empty(t, reports, "the broken file was reported once")
}

func TestWatched_LookupsDuringSwapsSeeOneVersion(t *testing.T) {
	w, path := watchedFile(t, defsFile(t, "0"))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				// Each version's client has its own scope: a lookup
				// that mixed two versions would not find it.
				d := w.Current()
				c, err := d.Client(ctx, "web")
				if !assert.NoError(t, err) {
					return
				}
				_, err = d.Scope(ctx, c.Scopes[0])
				assert.NoError(t, err)
				assert.Equal(t, []string{"s-" + c.Name}, c.Scopes)
				c, err = w.Client(ctx, "web")
				if assert.NoError(t, err) {
					assert.Equal(t, []string{"s-" + c.Name}, c.Scopes)
				}
			}
		})
	}
	// A second checker, as a Run beside a direct call, only contends.
	wg.Go(func() {
		for ctx.Err() == nil {
			_, err := w.Check()
			assert.NoError(t, err)
		}
	})

	for i := 1; i <= 50; i++ {
		name := fmt.Sprint(i)
		require.NoError(t, writeAtomic(path, defsFile(t, name), 0o600, nil))
		_, err := w.Check()
		require.NoError(t, err)
		assert.Equal(t, name, clientName(t, w))
	}
	cancel()
	wg.Wait()
}
