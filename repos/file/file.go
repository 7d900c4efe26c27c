// Package file reads clients, users and scopes from a JSON definitions file
// (DESIGN.md §4) into memory. The file is validated as a whole when it is
// loaded, so every mistake in it is a configuration error at provision time
// rather than a failed request later.
//
// Definitions, from Load, never change. Watched, from LoadWatched, reads the
// file again when it changes and swaps the new definitions in only if the
// whole file is valid: an edit takes effect without a reload, and a broken
// edit leaves the last good definitions in effect.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// MaxSize is the largest definitions file Load reads. Ten thousand clients
// and users fit in a few megabytes; a larger file is more likely a mistake
// (the wrong path) than a deployment.
const MaxSize = 16 << 20

// Definitions are the clients, users and scopes of one definitions file. They
// are immutable, so lookups need no locks; each returns a copy the caller may
// change.
type Definitions struct {
	clients   map[string]*repos.Client
	users     map[string]*repos.User // by id
	usernames map[string]*repos.User
	scopes    map[string]*repos.Scope
}

// document is the top level of a definitions file.
type document struct {
	Scopes  []repos.Scope  `json:"scopes"`
	Clients []repos.Client `json:"clients"`
	Users   []repos.User   `json:"users"`
}

// Load reads and validates the definitions file at path.
func Load(path string) (*Definitions, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("definitions file %s: %w", path, err)
	}
	return d, nil
}

// readFile reads the definitions file at path, up to MaxSize. A missing
// file is an error that wraps fs.ErrNotExist.
func readFile(path string) ([]byte, error) {
	data, _, err := readFileInfo(path)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("definitions file %s is larger than %d MiB", path, MaxSize>>20)
	}
	return data, nil
}

// readFileInfo reads at most MaxSize+1 bytes of the file at path, so that a
// caller can tell a file that is too large, and returns with them the file's
// info. The info comes from the open file once it is read: it describes the
// file the bytes came from even if another is renamed over path meanwhile,
// and if the file was written to during the read it carries the later
// modification time. A missing file is an error that wraps fs.ErrNotExist.
func readFileInfo(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading definitions file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading definitions file %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading definitions file %s: %w", path, err)
	}
	return data, fi, nil
}

// Parse validates a definitions document. Unknown fields are rejected, since
// a misspelt "scopes" would otherwise silently lift a restriction; errors
// name the entry and the field, never a hash.
func Parse(data []byte) (*Definitions, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	return index(doc), nil
}

// parseDocument decodes and validates a definitions document.
func parseDocument(data []byte) (*document, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("larger than %d MiB", MaxSize>>20)
	}
	// Editors on Windows like to start UTF-8 files with a byte order mark.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	end := dec.InputOffset()
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return nil, fmt.Errorf("%s: data after the JSON object", position(data, int64(len(data)-len(rest))))
	}
	if err := validate(&doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// index builds the lookup maps of a validated document.
func index(doc *document) *Definitions {
	d := &Definitions{
		clients:   make(map[string]*repos.Client, len(doc.Clients)),
		users:     make(map[string]*repos.User, len(doc.Users)),
		usernames: make(map[string]*repos.User, len(doc.Users)),
		scopes:    make(map[string]*repos.Scope, len(doc.Scopes)),
	}
	for i := range doc.Clients {
		d.clients[doc.Clients[i].ID] = &doc.Clients[i]
	}
	for i := range doc.Users {
		u := &doc.Users[i]
		d.users[u.ID], d.usernames[u.Username] = u, u
	}
	for i := range doc.Scopes {
		d.scopes[doc.Scopes[i].ID] = &doc.Scopes[i]
	}
	return d
}

// Client returns a copy of the client with the given id, or repos.ErrNotFound.
func (d *Definitions) Client(_ context.Context, id string) (*repos.Client, error) {
	c, ok := d.clients[id]
	if !ok {
		return nil, fmt.Errorf("client: %w", repos.ErrNotFound)
	}
	cp := *c
	// slices.Clone keeps nil nil and empty empty: the difference matters.
	cp.Grants, cp.Scopes, cp.DefaultScope = slices.Clone(c.Grants), slices.Clone(c.Scopes), slices.Clone(c.DefaultScope)
	return &cp, nil
}

// UserByUsername returns a copy of the user with the given username, or
// repos.ErrNotFound.
func (d *Definitions) UserByUsername(_ context.Context, username string) (*repos.User, error) {
	return copyUser(d.usernames[username])
}

// UserByID returns a copy of the user with the given id, or repos.ErrNotFound.
func (d *Definitions) UserByID(_ context.Context, id string) (*repos.User, error) {
	return copyUser(d.users[id])
}

func copyUser(u *repos.User) (*repos.User, error) {
	if u == nil {
		return nil, fmt.Errorf("user: %w", repos.ErrNotFound)
	}
	cp := *u
	cp.Scopes = slices.Clone(u.Scopes)
	return &cp, nil
}

// Scope returns a copy of the scope with the given id, or repos.ErrNotFound.
func (d *Definitions) Scope(_ context.Context, id string) (*repos.Scope, error) {
	s, ok := d.scopes[id]
	if !ok {
		return nil, fmt.Errorf("scope: %w", repos.ErrNotFound)
	}
	cp := *s
	return &cp, nil
}

// jsonError adds the line and column to a decoding error, for a file edited
// by hand. The errors' offsets count the bytes read, the bad one included.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s: %v", position(data, syntax.Offset-1), err)
	case errors.As(err, &typ):
		return fmt.Errorf("%s: %s must be %s, not %s", position(data, typ.Offset-1), typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	return err
}

// position describes the byte at index i of data by its line and column,
// both counted from 1.
func position(data []byte, i int64) string {
	i = min(max(i, 0), int64(len(data)))
	before := data[:i]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(i) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}

// Interface guard.
var _ repos.Definitions = (*Definitions)(nil)
