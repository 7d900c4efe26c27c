package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// Document is a definitions file opened for editing: the lists as the file
// holds them, in its order. Unlike Definitions it may be changed; Save
// validates it as Load would before anything is written, so an edit can
// never leave behind a file that Caddy refuses to load.
//
// Within the lists, nil and empty keep their meanings: a client whose Scopes
// is nil may request every scope, one whose Scopes is empty none. Save writes
// the first without the field and the second as [].
type Document document

// ReadDocument reads and validates the definitions file at path for editing.
// A missing file is an error that wraps fs.ErrNotExist, so that a caller
// creating a file can tell it from a broken one.
func ReadDocument(path string) (*Document, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := parseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("definitions file %s: %w", path, err)
	}
	return (*Document)(doc), nil
}

// Validate checks the document as Load checks a file.
func (d *Document) Validate() error {
	return validate((*document)(d))
}

// Marshal validates the document and encodes it as a definitions file: the
// scopes, clients and users in that order, indented by two spaces, one line
// per scope and per user and one per field of a client, as the example file
// is laid out. Hashes and names are written as they are (no \u0026 for &).
func (d *Document) Marshal() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	writeArray(&b, "scopes", len(d.Scopes), func(i int) string {
		s := d.Scopes[i]
		f := []member{{"id", jsonString(s.ID)}}
		if s.Description != "" {
			f = append(f, member{"description", jsonString(s.Description)})
		}
		return inline(f)
	})
	b.WriteString(",\n")
	writeArray(&b, "clients", len(d.Clients), func(i int) string {
		return block(clientMembers(&d.Clients[i]), "    ")
	})
	b.WriteString(",\n")
	writeArray(&b, "users", len(d.Users), func(i int) string {
		u := d.Users[i]
		f := []member{{"id", jsonString(u.ID)}, {"username", jsonString(u.Username)}, {"password_hash", jsonString(u.PasswordHash)}}
		if u.Scopes != nil {
			f = append(f, member{"scopes", jsonList(u.Scopes)})
		}
		return inline(f)
	})
	b.WriteString("\n}\n")

	// The encoding above is hand-made; parsing its output is what proves
	// that Load will read back exactly this document.
	if _, err := Parse(b.Bytes()); err != nil {
		return nil, fmt.Errorf("encoding definitions: %w", err)
	}
	return b.Bytes(), nil
}

// Save validates the document and replaces the file at path with it
// atomically: it writes a temporary file in the same directory, with the
// permissions (and, where the process may set it, the owner) of the file it
// replaces, or 0600 for a new file, flushes it to disk and renames it over
// path. A reader such as `caddy reload` sees the old file or the new one,
// never a part; a crash leaves at worst a stray temporary file. When path is a
// symbolic link, the file it points to is replaced and the link kept.
func (d *Document) Save(path string) error {
	data, err := d.Marshal()
	if err != nil {
		return fmt.Errorf("definitions file %s: %w", path, err)
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		target, err = path, nil
	}
	if err != nil {
		return fmt.Errorf("definitions file %s: %w", path, err)
	}
	mode, existing := fs.FileMode(0o600), fs.FileInfo(nil)
	if fi, err := os.Stat(target); err == nil {
		mode, existing = fi.Mode().Perm(), fi
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("definitions file %s: %w", path, err)
	}
	if err := writeAtomic(target, data, mode, existing); err != nil {
		return fmt.Errorf("writing definitions file %s: %w", path, err)
	}
	return nil
}

// writeAtomic writes data to a temporary file beside target and renames it
// over target.
func writeAtomic(target string, data []byte, mode fs.FileMode, existing fs.FileInfo) (err error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; set the mode before any data is in it.
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if existing != nil {
		// Run as root on a file owned by the caddy user, the new file would
		// otherwise be root's, and 0600 would lock Caddy out of it.
		keepOwner(tmp, existing)
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir flushes a directory entry change (the rename) to disk, where the
// platform can; a failure is not reported because the data itself is safe.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// member is one member of a JSON object: its key and its encoded value.
type member struct {
	key   string
	value string
}

// clientMembers lists a client's members in the order of the file format.
func clientMembers(c *repos.Client) []member {
	f := []member{{"id", jsonString(c.ID)}}
	if c.Name != "" {
		f = append(f, member{"name", jsonString(c.Name)})
	}
	if c.SecretHash != "" {
		f = append(f, member{"secret_hash", jsonString(c.SecretHash)})
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"grants", c.Grants}, {"scopes", c.Scopes}, {"default_scope", c.DefaultScope}} {
		if l.list != nil {
			f = append(f, member{l.key, jsonList(l.list)})
		}
	}
	if c.Introspect {
		f = append(f, member{"introspect", "true"})
	}
	return f
}

// writeArray writes `  "key": [...]` with one element per line, each
// rendered by elem, or [] when there are none.
func writeArray(b *bytes.Buffer, key string, n int, elem func(i int) string) {
	b.WriteString("  " + jsonString(key) + ": [")
	if n == 0 {
		b.WriteString("]")
		return
	}
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    " + elem(i))
	}
	b.WriteString("\n  ]")
}

// inline renders an object on one line.
func inline(members []member) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = jsonString(m.key) + ": " + m.value
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// block renders an object with one member per line, the braces at indent.
func block(members []member, indent string) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = indent + "  " + jsonString(m.key) + ": " + m.value
	}
	return "{\n" + strings.Join(parts, ",\n") + "\n" + indent + "}"
}

// jsonList renders a list of strings on one line; an empty list is [].
func jsonList(l []string) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = jsonString(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// jsonString encodes s as a JSON string, leaving <, > and & as they are.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
