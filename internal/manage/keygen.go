package manage

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.step.sm/crypto/pemutil"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// Key types of keygen, and the algorithm each gives access tokens.
const (
	keyEC      = "ec"      // ECDSA P-256: ES256
	keyRSA     = "rsa"     // RS256
	keyEd25519 = "ed25519" // EdDSA
)

// Bounds of an RSA key's size. The handler refuses keys under
// tokens.MinRSABits (RFC 7518 §3.3). defaultRSABits is 3072, NIST's size for keys in use after
// 2030 (SP 800-57 Part 1: 2048 bits is 112-bit security, enough only until
// then): a signing key made today may well live that long. Signing with it
// costs about three times what a 2048-bit key does; whoever minds that
// should pick ec, the default, which is both faster and smaller.
const (
	defaultRSABits = 3072
	maxRSABits     = 8192
)

// keyOptions says what keygen makes and where it writes it.
type keyOptions struct {
	// keyType is keyEC (the default when empty), keyRSA or keyEd25519.
	keyType string
	// bits is the size of an RSA key; 0 means defaultRSABits.
	bits int
	// privatePath is the private key's file, written 0600.
	privatePath string
	// publicPath is the public key's file; empty means publicKeyPath(privatePath).
	publicPath string
	// passphrase, when set, encrypts the private key (PBES2 PKCS#8 with
	// AES-256-CBC and PBKDF2-SHA256, what `openssl genpkey -aes-256-cbc` writes).
	passphrase []byte
	// force replaces existing files; without it keygen refuses to, as losing
	// a signing key invalidates every access token signed with it.
	force bool
}

// keyInfo describes a generated key, for the message that says how to use it.
type keyInfo struct {
	// algorithm is the JWS algorithm of the tokens the key signs.
	algorithm string
	// keyID is the kid of those tokens: the key's RFC 7638 thumbprint.
	keyID       string
	privatePath string
	publicPath  string
}

// publicKeyPath is the default public key file for a private key file:
// oauth2.pem gives oauth2.pub.pem.
func publicKeyPath(private string) string {
	if base, ok := strings.CutSuffix(private, ".pem"); ok {
		return base + ".pub.pem"
	}
	return private + ".pub"
}

// generateKey makes a signing key for access tokens and writes it as PEM:
// the private key as PKCS#8 (encrypted when a passphrase is given) and the
// public key as PKIX, for resource servers that check tokens offline.
//
// Before anything is written, the key is read back with
// tokens.ParsePrivateKey, as the handler reads its private_key, so a key that
// keygen writes is one the handler accepts. The unencrypted encoding is read
// back: decrypting costs a PBKDF2 derivation of 600,000 rounds, and the
// tests check that encrypted keys read back too.
func generateKey(opts keyOptions) (*keyInfo, error) {
	if opts.privatePath == "" {
		return nil, errors.New("no file for the private key")
	}
	if opts.publicPath == "" {
		opts.publicPath = publicKeyPath(opts.privatePath)
	}
	if filepath.Clean(opts.publicPath) == filepath.Clean(opts.privatePath) {
		return nil, errors.New("the public and private key files are the same")
	}
	if !opts.force {
		for _, p := range []string{opts.privatePath, opts.publicPath} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%s exists; use --force to replace it", p)
			}
		}
	}

	key, err := newKey(opts.keyType, opts.bits)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	private := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	parsed, err := tokens.ParsePrivateKey(private, nil)
	if err != nil {
		return nil, fmt.Errorf("reading back the generated key: %w", err)
	}
	signer, err := tokens.NewSigner(parsed)
	if err != nil {
		return nil, err
	}
	if len(opts.passphrase) > 0 {
		block, err := pemutil.EncryptPKCS8PrivateKey(rand.Reader, der, opts.passphrase, x509.PEMCipherAES256)
		if err != nil {
			return nil, fmt.Errorf("encrypting the private key: %w", err)
		}
		private = pem.EncodeToMemory(block)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	public := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	if err := writeKeyFile(opts.privatePath, private, 0o600, opts.force); err != nil {
		return nil, err
	}
	if err := writeKeyFile(opts.publicPath, public, 0o644, opts.force); err != nil {
		return nil, err
	}
	return &keyInfo{
		algorithm:   signer.Algorithm(),
		keyID:       signer.KeyID(),
		privatePath: opts.privatePath,
		publicPath:  opts.publicPath,
	}, nil
}

// newKey generates a key of the given type.
func newKey(typ string, bits int) (crypto.Signer, error) {
	switch typ {
	case "", keyEC:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keyEd25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	case keyRSA:
		if bits == 0 {
			bits = defaultRSABits
		}
		if bits < tokens.MinRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("--bits: an RSA key has %d to %d bits", tokens.MinRSABits, maxRSABits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("--type: unknown key type %q (want %s, %s or %s)", typ, keyEC, keyRSA, keyEd25519)
}

// writeKeyFile writes a key file with mode perm. Without force it creates
// the file and fails if one exists, even one created since the check in
// generateKey. With force it writes a temporary file beside it and renames it
// over the old one, so the new file has perm whatever the old one had, and a
// failure leaves the old key in place.
func writeKeyFile(path string, data []byte, perm fs.FileMode, force bool) (err error) {
	var f *os.File
	if force {
		f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
		if err == nil {
			err = f.Chmod(perm)
		}
	} else {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; use --force to replace it", path)
		}
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if force {
		if err := os.Rename(f.Name(), path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
