package manage

import (
	"fmt"
	"io"
)

// HashFunc hashes a client secret or a user's password into one of the
// formats the repositories store. In Caddy it is caddyauth.BcryptHash's Hash,
// as `caddy hash-password` uses; tests pass a cheaper bcrypt cost.
type HashFunc func(plaintext []byte) ([]byte, error)

// Manager runs the client, user and scope commands against one store.
type Manager struct {
	// Store is the repository being managed.
	Store Store
	// Out receives what a script may want: listings and generated secrets.
	Out io.Writer
	// Err receives confirmations, warnings and reminders.
	Err io.Writer
	// Hash hashes secrets and passwords before they are stored.
	Hash HashFunc
}

// hash hashes a secret with m.Hash. The error never includes the secret.
func (m *Manager) hash(secret []byte) (string, error) {
	h, err := m.Hash(secret)
	if err != nil {
		return "", fmt.Errorf("hashing: %w", err)
	}
	return string(h), nil
}

// changed prints a confirmation of a change, and the store's reminder when
// Caddy will not see the change by itself.
func (m *Manager) changed(format string, args ...any) {
	fmt.Fprintf(m.Err, format+"\n", args...)
	if n, ok := m.Store.(changeNoticer); ok {
		fmt.Fprintln(m.Err, n.ChangeNotice())
	}
}
