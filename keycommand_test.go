package caddyoauth2

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/keyset"
)

func TestKeyCommand(t *testing.T) {
	storageDir := t.TempDir()
	config := writeConfig(t, fmt.Sprintf(`{
		"storage": {"module": "file_system", "root": %q},
		"apps": {"http": {"servers": {"s": {"listen": [":0"], "routes": [{"handle": [
			{"handler": "oauth2_server", "access_token_ttl": 600000000000}
		]}]}}}}
	}`, storageDir))

	_, _, err := oauth2Command(t, "key", "list", "--config", config)
	assert.ErrorIs(t, err, keyset.ErrNoKeySet, "nothing generated the keys yet")

	storage := &certmagic.FileStorage{Path: storageDir}
	m, err := keyset.Open(context.Background(), storage, keyset.Options{})
	require.NoError(t, err)
	first := m.Current().Signer().KeyID()

	out, _, err := oauth2Command(t, "key", "list", "--config", config)
	require.NoError(t, err)
	assert.Contains(t, out, first)
	assert.Contains(t, out, "active")

	out, _, err = oauth2Command(t, "key", "rotate", "--config", config)
	require.NoError(t, err)
	assert.Contains(t, out, "published; it signs from")
	m.Refresh(t.Context())
	require.Len(t, m.Current().Keys(), 2)
	next := m.Current().Keys()[1]
	assert.Equal(t, keyset.StateNext, next.State)
	assert.Contains(t, out, next.ID)
	assert.Equal(t, first, m.Current().Signer().KeyID(), "the new key waits for its lead")

	out, _, err = oauth2Command(t, "key", "rotate", "--now", "--config", config)
	require.NoError(t, err)
	m.Refresh(t.Context())
	keys := m.Current().Keys()
	require.Len(t, keys, 1, "every other key left the set")
	assert.Equal(t, keys[0].ID, m.Current().Signer().KeyID())
	assert.True(t, strings.HasPrefix(out, "key "+keys[0].ID+" signs now"))
}

func TestKeyCommand_RefusesKeyFiles(t *testing.T) {
	config := writeConfig(t, `{"apps": {"http": {"servers": {"s": {"listen": [":0"], "routes": [{"handle": [
		{"handler": "oauth2_token", "private_key": "/etc/caddy/key.pem"}
	]}]}}}}}`)
	_, _, err := oauth2Command(t, "key", "rotate", "--config", config)
	assert.ErrorContains(t, err, "private_key file")
}

func writeConfig(t *testing.T, json string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caddy.json")
	require.NoError(t, os.WriteFile(path, []byte(json), 0o600))
	return path
}
