package manage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
)

// fileStore is a JSON definitions file as a store. It reads the file once,
// when opened; every change is applied to a copy of the document, which is
// saved (validated, then atomically replacing the file) before it becomes the
// store's state, so a refused change leaves both the file and the store as
// they were. A file that does not exist yet reads as empty and is created,
// 0600, by the first change.
type fileStore struct {
	path   string
	doc    *file.Document
	exists bool
}

func openFileStore(path string) (*fileStore, error) {
	doc, err := file.ReadDocument(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &fileStore{path: path, doc: new(file.Document)}, nil
	}
	if err != nil {
		return nil, err
	}
	return &fileStore{path: path, doc: doc, exists: true}, nil
}

// changeNotice tells the user when a running Caddy sees the change: within a
// second, as it notices the changed file by itself. Users who used to run
// `caddy reload` after editing the file learn that they no longer need to.
func (s *fileStore) changeNotice() string {
	return fmt.Sprintf("A running Caddy notices the change to %s within a second; no reload is needed.", s.path)
}

// Close does nothing: every change is already saved.
func (s *fileStore) Close() error { return nil }

// Client returns the client with the given id, or repos.ErrNotFound.
func (s *fileStore) Client(_ context.Context, id string) (*repos.Client, error) {
	i := slices.IndexFunc(s.doc.Clients, func(c repos.Client) bool { return c.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("client: %w", repos.ErrNotFound)
	}
	c := cloneClient(s.doc.Clients[i])
	return &c, nil
}

// UserByUsername returns the user with the given username, or repos.ErrNotFound.
func (s *fileStore) UserByUsername(_ context.Context, username string) (*repos.User, error) {
	return s.user(func(u repos.User) bool { return u.Username == username })
}

// UserByID returns the user with the given id, or repos.ErrNotFound.
func (s *fileStore) UserByID(_ context.Context, id string) (*repos.User, error) {
	return s.user(func(u repos.User) bool { return u.ID == id })
}

func (s *fileStore) user(match func(repos.User) bool) (*repos.User, error) {
	i := slices.IndexFunc(s.doc.Users, match)
	if i < 0 {
		return nil, fmt.Errorf("user: %w", repos.ErrNotFound)
	}
	u := cloneUser(s.doc.Users[i])
	return &u, nil
}

// Scope returns the scope with the given id, or repos.ErrNotFound.
func (s *fileStore) Scope(_ context.Context, id string) (*repos.Scope, error) {
	i := slices.IndexFunc(s.doc.Scopes, func(sc repos.Scope) bool { return sc.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("scope: %w", repos.ErrNotFound)
	}
	sc := s.doc.Scopes[i]
	return &sc, nil
}

// ListClients returns every client, ordered by id as the SQL store orders
// them. A file that does not exist is an error here rather than an empty
// list, since it is more likely a mistyped path than an empty repository.
func (s *fileStore) ListClients(context.Context) ([]repos.Client, error) {
	if err := s.mustExist(); err != nil {
		return nil, err
	}
	out := make([]repos.Client, len(s.doc.Clients))
	for i, c := range s.doc.Clients {
		out[i] = cloneClient(c)
	}
	slices.SortFunc(out, func(a, b repos.Client) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// ListUsers returns every user, ordered by id.
func (s *fileStore) ListUsers(context.Context) ([]repos.User, error) {
	if err := s.mustExist(); err != nil {
		return nil, err
	}
	out := make([]repos.User, len(s.doc.Users))
	for i, u := range s.doc.Users {
		out[i] = cloneUser(u)
	}
	slices.SortFunc(out, func(a, b repos.User) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// ListScopes returns every scope, ordered by id.
func (s *fileStore) ListScopes(context.Context) ([]repos.Scope, error) {
	if err := s.mustExist(); err != nil {
		return nil, err
	}
	out := slices.Clone(s.doc.Scopes)
	slices.SortFunc(out, func(a, b repos.Scope) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *fileStore) mustExist() error {
	if !s.exists {
		return fmt.Errorf("definitions file %s does not exist (the first add creates it)", s.path)
	}
	return nil
}

// PutClient creates the client or replaces the one with its id, in place, so
// that the file keeps its order.
func (s *fileStore) PutClient(_ context.Context, c repos.Client) error {
	return s.update(func(d *file.Document) error {
		d.Clients = put(d.Clients, cloneClient(c), func(x repos.Client) bool { return x.ID == c.ID })
		return nil
	})
}

// PutUser creates the user or replaces the one with its id;
// repos.ErrDuplicate if another user has its username.
func (s *fileStore) PutUser(_ context.Context, u repos.User) error {
	return s.update(func(d *file.Document) error {
		if slices.ContainsFunc(d.Users, func(x repos.User) bool { return x.Username == u.Username && x.ID != u.ID }) {
			return fmt.Errorf("storing user: %w", repos.ErrDuplicate)
		}
		d.Users = put(d.Users, cloneUser(u), func(x repos.User) bool { return x.ID == u.ID })
		return nil
	})
}

// PutScope creates the scope or replaces the one with its id.
func (s *fileStore) PutScope(_ context.Context, sc repos.Scope) error {
	return s.update(func(d *file.Document) error {
		d.Scopes = put(d.Scopes, sc, func(x repos.Scope) bool { return x.ID == sc.ID })
		return nil
	})
}

// DeleteClient deletes the client; repos.ErrNotFound if there is none.
func (s *fileStore) DeleteClient(_ context.Context, id string) error {
	return s.update(func(d *file.Document) (err error) {
		d.Clients, err = remove(d.Clients, "client", func(x repos.Client) bool { return x.ID == id })
		return err
	})
}

// DeleteUser deletes the user; repos.ErrNotFound if there is none.
func (s *fileStore) DeleteUser(_ context.Context, id string) error {
	return s.update(func(d *file.Document) (err error) {
		d.Users, err = remove(d.Users, "user", func(x repos.User) bool { return x.ID == id })
		return err
	})
}

// DeleteScope deletes the scope; repos.ErrNotFound if there is none. Unlike
// the SQL store, the file refuses to lose a scope that a client or user still
// names: the file would no longer load.
func (s *fileStore) DeleteScope(_ context.Context, id string) error {
	return s.update(func(d *file.Document) (err error) {
		d.Scopes, err = remove(d.Scopes, "scope", func(x repos.Scope) bool { return x.ID == id })
		return err
	})
}

// update applies change to a copy of the document and saves it; only then
// does the copy become the store's document.
func (s *fileStore) update(change func(*file.Document) error) error {
	next := &file.Document{
		Scopes:  slices.Clone(s.doc.Scopes),
		Clients: slices.Clone(s.doc.Clients),
		Users:   slices.Clone(s.doc.Users),
	}
	if err := change(next); err != nil {
		return err
	}
	if err := next.Save(s.path); err != nil {
		return err
	}
	s.doc, s.exists = next, true
	return nil
}

// put replaces the element that match selects, or appends v.
func put[T any](list []T, v T, match func(T) bool) []T {
	if i := slices.IndexFunc(list, match); i >= 0 {
		list[i] = v
		return list
	}
	return append(list, v)
}

// remove deletes the element that match selects; repos.ErrNotFound if none.
func remove[T any](list []T, what string, match func(T) bool) ([]T, error) {
	i := slices.IndexFunc(list, match)
	if i < 0 {
		return nil, fmt.Errorf("%s: %w", what, repos.ErrNotFound)
	}
	return slices.Delete(list, i, i+1), nil
}

// cloneClient copies a client's lists, keeping nil nil and empty empty.
func cloneClient(c repos.Client) repos.Client {
	c.Grants, c.Scopes, c.DefaultScope = slices.Clone(c.Grants), slices.Clone(c.Scopes), slices.Clone(c.DefaultScope)
	return c
}

// cloneUser copies a user's scope list, keeping nil nil and empty empty.
func cloneUser(u repos.User) repos.User {
	u.Scopes = slices.Clone(u.Scopes)
	return u
}

// Interface guards.
var (
	_ store         = (*fileStore)(nil)
	_ changeNoticer = (*fileStore)(nil)
)
