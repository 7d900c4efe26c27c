package manage

import (
	"fmt"
	"io"
)

// manager runs the client, user and scope commands against one store. It
// writes to io.Writers rather than to a terminal so that tests can read what a
// command printed.
type manager struct {
	// store is the repository being managed.
	store store
	// tokens is the repository's token state, opened when a command first
	// revokes tokens.
	tokens *tokenState
	// stdout receives what a script may want: listings and generated secrets.
	stdout io.Writer
	// stderr receives confirmations, warnings and reminders.
	stderr io.Writer
	// hash hashes secrets and passwords before they are stored (Env.Hash).
	hash func(plaintext []byte) ([]byte, error)
}

// hashSecret hashes a secret with m.hash. The error never includes the secret.
func (m *manager) hashSecret(secret []byte) (string, error) {
	h, err := m.hash(secret)
	if err != nil {
		return "", fmt.Errorf("hashing: %w", err)
	}
	return string(h), nil
}

// changed prints a confirmation of a change, and the store's notice of when a
// running Caddy sees it, if the store has one.
func (m *manager) changed(format string, args ...any) {
	fmt.Fprintf(m.stderr, format+"\n", args...)
	if n, ok := m.store.(changeNoticer); ok {
		fmt.Fprintln(m.stderr, n.changeNotice())
	}
}
