package caddyoauth2

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// Every provisioning mistake is a config error that names the subdirective, so
// `caddy validate` points at the line to fix, and never echoes a secret.
func TestProvision_ErrorsNameTheSubdirective(t *testing.T) {
	dir := t.TempDir()
	keyPath := writeKeyFile(t, dir)
	garbagePath := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbagePath, []byte("not a key"), 0o600))
	badDefs := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badDefs, []byte(`{"clients":[{"id":"a:b"}]}`), 0o600))
	t.Setenv("SHORT_SECRET", "only-20-bytes-long!!")

	const goodKey = "an-encryption-key-of-32-bytes-at-least"
	sqlite := func(name string) json.RawMessage {
		return json.RawMessage(`{"backend":"sql","driver":"sqlite","dsn":"` + filepath.Join(dir, name) + `"}`)
	}
	tests := []struct {
		name    string
		handler TokenHandler
		want    []string
	}{
		{"missing key file", TokenHandler{PrivateKey: filepath.Join(dir, "nope.pem"), EncryptionKey: goodKey, RepositoryRaw: sqlite("a.db")},
			[]string{"private_key", "nope.pem"}},
		{"not a key", TokenHandler{PrivateKey: garbagePath, EncryptionKey: goodKey, RepositoryRaw: sqlite("b.db")},
			[]string{"private_key", "garbage.pem"}},
		{"short encryption key from the environment", TokenHandler{PrivateKey: keyPath, EncryptionKey: "{env.SHORT_SECRET}", RepositoryRaw: sqlite("c.db")},
			[]string{"encryption_key", "at least 32 bytes"}},
		{"bad definitions file", TokenHandler{PrivateKey: keyPath, EncryptionKey: goodKey,
			RepositoryRaw: json.RawMessage(`{"backend":"file","path":"` + badDefs + `","tokens":{"driver":"sqlite","dsn":"` + filepath.Join(dir, "d.db") + `"}}`)},
			[]string{"repository", "file"}},
		{"unknown driver", TokenHandler{PrivateKey: keyPath, EncryptionKey: goodKey,
			RepositoryRaw: json.RawMessage(`{"backend":"sql","driver":"oracle","dsn":"x"}`)},
			[]string{"repository", "oracle"}},
		{"driver not implemented yet", TokenHandler{PrivateKey: keyPath, EncryptionKey: goodKey,
			RepositoryRaw: json.RawMessage(`{"backend":"sql","driver":"postgres","dsn":"postgres://user:hunter2@127.0.0.1:1/db"}`)},
			[]string{"repository", "postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := tt.handler
			err := h.Provision(ctx)
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "only-20-bytes-long", "a secret must never be echoed")
			assert.NotContains(t, err.Error(), "hunter2", "a DSN's password must never be echoed")
		})
	}
}

func TestValidate_RejectsUnknownGrantsAndNegativeTTLs(t *testing.T) {
	assert.ErrorContains(t, (&TokenHandler{Grants: []string{"implicit"}}).Validate(), "grants")
	assert.ErrorContains(t, (&TokenHandler{AccessTokenTTL: -1}).Validate(), "access_token_ttl")
	assert.ErrorContains(t, (&TokenHandler{RefreshTokenTTL: -1}).Validate(), "refresh_token_ttl")
	assert.ErrorContains(t, (&TokenHandler{PurgeInterval: 1}).Validate(), "purge_interval")
	assert.NoError(t, (&TokenHandler{PurgeInterval: -1}).Validate(), "purge_interval off")
	assert.NoError(t, (&TokenHandler{Grants: []string{"password", "refresh_token"}}).Validate())
}

// Like league's CryptKey, a key file other users can read earns a warning.
func TestReadKeyFile_WarnsWhenOthersCanRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(path, []byte("pem"), 0o600))
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}, {0o604, true}} {
		require.NoError(t, os.Chmod(path, tc.mode))
		core, logs := observer.New(zapcore.WarnLevel)
		data, err := readKeyFile(zap.New(core), path)
		require.NoError(t, err)
		assert.Equal(t, "pem", string(data))
		assert.Equal(t, tc.warn, logs.Len() == 1, "mode %o", tc.mode)
		if tc.warn {
			assert.True(t, strings.Contains(logs.All()[0].Message, "other users"))
		}
	}
}
