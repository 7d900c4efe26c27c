package manage

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

func TestManageKeygen(t *testing.T) {
	t.Parallel() // the encrypted key's derivation is slow under the race detector
	tests := []struct {
		name       string
		opts       keyOptions
		alg        string
		pemType    string
		passphrase string
	}{
		{"default is ec", keyOptions{}, "ES256", "PRIVATE KEY", ""},
		{"ed25519", keyOptions{keyType: keyEd25519}, "EdDSA", "PRIVATE KEY", ""},
		// 2048 bits keeps the test quick; the default size is checked below.
		{"rsa", keyOptions{keyType: keyRSA, bits: 2048}, "RS256", "PRIVATE KEY", ""},
		{"ec encrypted", keyOptions{passphrase: []byte("correct horse")}, "ES256", "ENCRYPTED PRIVATE KEY", "correct horse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := tt.opts
			opts.privatePath = filepath.Join(dir, "oauth2.pem")
			info, err := generateKey(opts)
			require.NoError(t, err)
			assert.Equal(t, tt.alg, info.algorithm)
			assert.Equal(t, filepath.Join(dir, "oauth2.pub.pem"), info.publicPath)

			private, err := os.ReadFile(info.privatePath)
			require.NoError(t, err)
			block, _ := pem.Decode(private)
			require.NotNil(t, block)
			assert.Equal(t, tt.pemType, block.Type)

			// The handler reads the key with tokens.ParsePrivateKey.
			key, err := tokens.ParsePrivateKey(private, []byte(tt.passphrase))
			require.NoError(t, err)
			signer, err := tokens.NewSigner(key)
			require.NoError(t, err)
			assert.Equal(t, tt.alg, signer.Algorithm())
			assert.Equal(t, info.keyID, signer.KeyID())

			public, err := os.ReadFile(info.publicPath)
			require.NoError(t, err)
			pubBlock, _ := pem.Decode(public)
			require.NotNil(t, pubBlock)
			assert.Equal(t, "PUBLIC KEY", pubBlock.Type)
			pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
			require.NoError(t, err)
			assert.True(t, pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()), "the public key is the private key's")

			if runtime.GOOS != "windows" {
				fi, err := os.Stat(info.privatePath)
				require.NoError(t, err)
				assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
			}

			if tt.passphrase != "" {
				_, err := tokens.ParsePrivateKey(private, nil)
				assert.Error(t, err, "an encrypted key needs its passphrase")
			}
		})
	}
}

func TestManageKeygen_KeyTypes(t *testing.T) {
	ec, err := newKey("", 0)
	require.NoError(t, err)
	assert.Equal(t, "P-256", ec.(*ecdsa.PrivateKey).Curve.Params().Name, "ES256 needs P-256")
	ed, err := newKey(keyEd25519, 0)
	require.NoError(t, err)
	assert.IsType(t, ed25519.PrivateKey{}, ed)
	// Generating a 3072-bit key takes seconds under the race detector; the
	// size given is the size made, and 0 means the default.
	r, err := newKey(keyRSA, tokens.MinRSABits)
	require.NoError(t, err)
	assert.Equal(t, tokens.MinRSABits, r.(*rsa.PrivateKey).N.BitLen())
	assert.Equal(t, "3072", keygenCommand().Flags().Lookup("bits").DefValue)
}

func TestManageKeygen_Refused(t *testing.T) {
	tests := []struct {
		name string
		opts keyOptions
		want string
	}{
		{"unknown type", keyOptions{keyType: "dsa"}, `unknown key type "dsa"`},
		{"small RSA", keyOptions{keyType: keyRSA, bits: 1024}, "an RSA key has 2048 to 8192 bits"},
		{"huge RSA", keyOptions{keyType: keyRSA, bits: 16384}, "an RSA key has 2048 to 8192 bits"},
		{"same files", keyOptions{publicPath: "oauth2.pem"}, "the public and private key files are the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.opts.privatePath = filepath.Join(dir, "oauth2.pem")
			if tt.opts.publicPath != "" {
				tt.opts.publicPath = filepath.Join(dir, tt.opts.publicPath)
			}
			_, err := generateKey(tt.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing was written")
		})
	}
}

func TestManageKeygen_Overwrite(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "oauth2.pem")
	first, err := generateKey(keyOptions{privatePath: private})
	require.NoError(t, err)
	before, err := os.ReadFile(private)
	require.NoError(t, err)

	for _, existing := range []string{private, first.publicPath} {
		other := filepath.Join(dir, "other.pem")
		opts := keyOptions{privatePath: private, publicPath: existing}
		if existing == private {
			opts.publicPath = other
		} else {
			opts.privatePath = other
		}
		_, err := generateKey(opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), existing+" exists; use --force to replace it")
		_, err = os.Stat(other)
		assert.ErrorIs(t, err, fs.ErrNotExist, "neither file is written")
	}
	after, err := os.ReadFile(private)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	if runtime.GOOS != "windows" {
		require.NoError(t, os.Chmod(private, 0o644))
	}
	second, err := generateKey(keyOptions{privatePath: private, force: true, keyType: keyEd25519})
	require.NoError(t, err)
	assert.NotEqual(t, first.keyID, second.keyID)
	assert.Equal(t, "EdDSA", second.algorithm)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(private)
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "a replaced key file is 0600 whatever the old one was")
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary files are left")
}

func TestManageKeygen_PublicKeyPath(t *testing.T) {
	assert.Equal(t, "/etc/caddy/oauth2.pub.pem", publicKeyPath("/etc/caddy/oauth2.pem"))
	assert.Equal(t, "signing.key.pub", publicKeyPath("signing.key"))
}
