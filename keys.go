package caddyoauth2

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Storage keys of the secrets the handler generates when the configuration names
// none. Every instance that shares Caddy's storage shares these, so tokens issued
// by one instance are accepted by the others, and a restart keeps them.
const (
	signingKeyStorageKey    = "oauth2/signing_key.pem"
	encryptionKeyStorageKey = "oauth2/encryption_key"
	keysLockName            = "oauth2_keys"
)

// lockTimeout bounds how long provisioning waits for the storage lock.
const lockTimeout = 30 * time.Second

// maxKeyFileSize bounds how much of a key file is read; a PEM key is a few KiB.
const maxKeyFileSize = 1 << 20

// loadSigner reads the configured private key file or, without one, loads the
// key kept in Caddy's storage, creating it the first time.
func loadSigner(ctx caddy.Context, cfg *settings) (*tokens.Signer, error) {
	var key crypto.Signer
	if cfg.privateKeyFile == "" {
		pemData, err := storedSecret(ctx, signingKeyStorageKey, func() ([]byte, error) {
			k, err := tokens.GenerateKey()
			if err != nil {
				return nil, err
			}
			return tokens.MarshalPrivateKey(k)
		})
		if err != nil {
			return nil, err
		}
		if key, err = tokens.ParsePrivateKey(pemData, nil); err != nil {
			return nil, fmt.Errorf("key in storage at %s: %w", signingKeyStorageKey, err)
		}
	} else {
		pemData, err := readKeyFile(ctx.Logger(), cfg.privateKeyFile)
		if err != nil {
			return nil, err
		}
		if key, err = tokens.ParsePrivateKey(pemData, cfg.passphrase); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.privateKeyFile, err)
		}
	}
	return tokens.NewSigner(key)
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
