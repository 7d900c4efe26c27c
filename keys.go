package caddyoauth2

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Storage keys of the secrets the handler generates when the configuration names
// none. Every instance that shares Caddy's storage shares these, so tokens issued
// by one instance are accepted by the others, and a restart keeps them.
// The signing keys are kept by package keyset, under the same lock.
const (
	encryptionKeyStorageKey = "oauth2/encryption_key"
	keysLockName            = keyset.LockName
)

// lockTimeout bounds how long provisioning waits for the storage lock.
const lockTimeout = 30 * time.Second

// maxKeyFileSize bounds how much of a key file is read; a PEM key is a few KiB.
const maxKeyFileSize = 1 << 20

// keyLeadEnv shortens how long a generated key is published before it
// signs, for the tests that watch a rotation happen between real Caddy
// processes. It is read at provisioning and logged; never set it in
// production.
const keyLeadEnv = "CADDY_OAUTH2_TEST_KEY_LEAD"

// minTestKeyLead bounds how short keyLeadEnv may make the lead, so that the
// key set's refresh (a quarter of it) stays a timer and not a spin.
const minTestKeyLead = time.Second

// keyLead is how long a generated key is published before it signs.
func keyLead() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(keyLeadEnv)); err == nil && d > 0 {
		return max(d, minTestKeyLead)
	}
	return keyset.DefaultLead
}

// keyRefreshInterval is how often each instance re-reads the key set from
// storage: at least once a minute, so that instances agree on the signing
// key within a minute of an activation, and four times per lead when a test
// shortens it.
func keyRefreshInterval(lead time.Duration) time.Duration {
	return min(time.Minute, lead/4)
}

// keySource is a handler's keys: the set in force now, and through it the
// key that signs and the keys that verify.
type keySource interface {
	grants.Keys
	Current() *keyset.Set
}

// loadKeys builds the handler's keys. A configured private key file signs
// and never rotates; without one, the key set kept in Caddy's storage is
// followed (created the first time) and, with a key rotation, rotated. The
// verification keys are published beside either.
func loadKeys(ctx caddy.Context, cfg *settings) (keySource, error) {
	verification, err := loadVerificationKeys(cfg.verificationKeys)
	if err != nil {
		return nil, fmt.Errorf("verification_key: %w", err)
	}
	if cfg.privateKeyFile != "" {
		pemData, err := readKeyFile(ctx.Logger(), cfg.privateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("private_key: %w", err)
		}
		key, err := tokens.ParsePrivateKey(pemData, cfg.passphrase)
		if err != nil {
			return nil, fmt.Errorf("private_key: %s: %w", cfg.privateKeyFile, err)
		}
		signer, err := tokens.NewSigner(key)
		if err != nil {
			return nil, fmt.Errorf("private_key: %s: %w", cfg.privateKeyFile, err)
		}
		return keyset.Static(signer, verification), nil
	}

	if cfg.keyLead != keyset.DefaultLead {
		ctx.Logger().Warn("signing key schedule shortened for testing", zap.String("env", keyLeadEnv), zap.Duration("lead", cfg.keyLead))
	}
	m, err := keyset.Open(ctx, ctx.Storage(), keyset.Options{
		Schedule: keyset.Schedule{
			Rotation: cfg.keyRotation,
			Lead:     cfg.keyLead,
			Keep:     cfg.accessTTL + cfg.keyLead,
		},
		Verification: verification,
		Logger:       ctx.Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("private_key: the key set in Caddy's storage: %w", err)
	}
	go m.Run(ctx, keyRefreshInterval(cfg.keyLead))
	return m, nil
}

// loadVerificationKeys reads the keys published for verification only:
// public keys, or private keys whose public half is published.
func loadVerificationKeys(paths []string) ([]*tokens.Verifier, error) {
	var out []*tokens.Verifier
	for _, path := range paths {
		data, err := readPublicKeyFile(path)
		if err != nil {
			return nil, err
		}
		pub, err := tokens.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		v, err := tokens.NewVerifier(pub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// loadSealer builds the refresh-token sealer from the configured encryption
// key or, without one, from the secret kept in Caddy's storage.
func loadSealer(ctx caddy.Context, cfg *settings) (*tokens.Sealer, error) {
	secret := cfg.encryptionKey
	if secret == nil {
		var err error
		secret, err = storedSecret(ctx, encryptionKeyStorageKey, func() ([]byte, error) {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return nil, err
			}
			return []byte(base64.StdEncoding.EncodeToString(b)), nil
		})
		if err != nil {
			return nil, err
		}
	}
	return tokens.NewSealer(secret)
}

// storedSecret returns the value at key in Caddy's storage, generating and
// storing it first if it is absent. The storage lock makes instances that start
// together agree on one value instead of each writing its own.
func storedSecret(ctx caddy.Context, key string, generate func() ([]byte, error)) ([]byte, error) {
	storage := ctx.Storage()
	if data, err := storage.Load(ctx, key); err == nil {
		return data, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading %s from storage: %w", key, err)
	}

	lockCtx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if err := storage.Lock(lockCtx, keysLockName); err != nil {
		return nil, fmt.Errorf("locking storage to create %s: %w", key, err)
	}
	defer func() {
		if err := storage.Unlock(context.WithoutCancel(ctx), keysLockName); err != nil {
			ctx.Logger().Error("unlocking storage", zap.String("lock", keysLockName), zap.Error(err))
		}
	}()

	// Another instance may have created it while we waited for the lock.
	if data, err := storage.Load(ctx, key); err == nil {
		return data, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading %s from storage: %w", key, err)
	}
	data, err := generate()
	if err != nil {
		return nil, fmt.Errorf("generating %s: %w", key, err)
	}
	if err := storage.Store(ctx, key, data); err != nil {
		return nil, fmt.Errorf("storing %s: %w", key, err)
	}
	ctx.Logger().Info("generated and stored a new secret", zap.String("storage_key", key))
	return data, nil
}

// readPublicKeyFile reads a verification key file, bounded like a private
// key file's read.
func readPublicKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || info.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("%s is not a regular file of at most %d bytes", path, maxKeyFileSize)
	}
	return os.ReadFile(path)
}

// readKeyFile reads a PEM key file and, like league's CryptKey, warns when other
// users can read it: a signing key anyone on the host can read is no secret.
func readKeyFile(logger *zap.Logger, path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist (make a key with: caddy oauth2 keygen --out %s, or leave private_key out to have one generated)", path, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it a key?", path, maxKeyFileSize)
	}
	if perm := info.Mode().Perm(); perm&0o007 != 0 {
		logger.Warn("private key file is accessible to other users; chmod 600 it",
			zap.String("file", path), zap.String("mode", perm.String()))
	}
	data := make([]byte, info.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}
