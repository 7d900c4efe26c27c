package tokens

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

	"go.step.sm/crypto/pemutil"
)

// MinRSABits is the smallest RSA modulus accepted for RS256 (RFC 7518 §3.3 and
// NIST SP 800-131A both require 2048).
const MinRSABits = 2048

// Errors of ParsePrivateKey. They are deliberately plain: the message ends up in
// `caddy validate` output, and none of them may ever include the passphrase.
var (
	errNoPEM            = errors.New("no PEM block")
	errNeedPassphrase   = errors.New("key is encrypted: a passphrase is needed")
	errWrongPassphrase  = errors.New("wrong passphrase or corrupt key")
	errMultipleKeys     = errors.New("more than one private key PEM block")
	errCertificateGiven = errors.New("found a certificate, not a private key")
	errPublicKeyGiven   = errors.New("found a public key, not a private key")
)

// privateKeyTypes are the PEM block types ParsePrivateKey reads: PKCS#1 and SEC1
// (either possibly with legacy Proc-Type encryption), PKCS#8 and encrypted PKCS#8.
var privateKeyTypes = map[string]bool{
	"RSA PRIVATE KEY":       true,
	"EC PRIVATE KEY":        true,
	"PRIVATE KEY":           true,
	"ENCRYPTED PRIVATE KEY": true,
}

// ParsePrivateKey reads the signing key of the access tokens from PEM data, so
// that operators can use whatever their tooling writes: PKCS#1, SEC1, PKCS#8,
// encrypted PKCS#8 (openssl genpkey -aes-256-cbc) or legacy encrypted PEM
// (openssl genrsa -aes128). The passphrase is only used when the key is
// encrypted. Only keys that NewSigner accepts are returned: RSA of at least 2048
// bits, EC P-256 and Ed25519. An "EC PARAMETERS" block before the key, as
// `openssl ecparam -genkey` writes, is skipped.
func ParsePrivateKey(pemData []byte, passphrase []byte) (crypto.Signer, error) {
	block, err := findKeyBlock(pemData)
	if err != nil {
		return nil, err
	}

	encrypted := block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED"
	if encrypted {
		// Decrypting here rather than through pemutil.Parse(WithPassword) tells a
		// wrong passphrase apart from an unsupported encryption scheme, and never
		// falls back to pemutil's global password prompt.
		if len(passphrase) == 0 {
			return nil, errNeedPassphrase
		}
		der, err := decryptBlock(block, passphrase)
		if err != nil {
			return nil, err
		}
		plainType := block.Type
		if plainType == "ENCRYPTED PRIVATE KEY" {
			plainType = "PRIVATE KEY"
		}
		block = &pem.Block{Type: plainType, Bytes: der}
	}

	parsed, err := pemutil.Parse(pem.EncodeToMemory(block))
	if err != nil {
		if encrypted {
			// CBC padding only catches most wrong passphrases; the rest decrypt
			// to noise that fails here.
			return nil, errWrongPassphrase
		}
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	return checkKey(parsed)
}

// findKeyBlock returns the one private key block of pemData, skipping other
// blocks (EC parameters, a certificate bundled with the key).
func findKeyBlock(pemData []byte) (*pem.Block, error) {
	var key, other *pem.Block
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case privateKeyTypes[block.Type]:
			if key != nil {
				return nil, errMultipleKeys
			}
			key = block
		case block.Type == "EC PARAMETERS":
			// Written by `openssl ecparam -genkey` before the key; redundant.
		case other == nil:
			other = block
		}
	}
	switch {
	case key != nil:
		return key, nil
	case other == nil:
		return nil, errNoPEM
	case other.Type == "CERTIFICATE":
		return nil, errCertificateGiven
	case other.Type == "PUBLIC KEY" || other.Type == "RSA PUBLIC KEY":
		return nil, errPublicKeyGiven
	default:
		return nil, fmt.Errorf("unsupported PEM block %q (want a private key)", other.Type)
	}
}

// decryptBlock decrypts an encrypted PKCS#8 or legacy encrypted PEM block.
func decryptBlock(block *pem.Block, passphrase []byte) (der []byte, err error) {
	// pemutil panics on some malformed encrypted PKCS#8 blocks (an IV or
	// ciphertext of the wrong length reaches crypto/cipher unchecked); a bad
	// key file must be an error, not a crash.
	defer func() {
		if recover() != nil {
			der, err = nil, errors.New("corrupt encrypted key")
		}
	}()
	der, err = pemutil.DecryptPEMBlock(block, passphrase)
	switch {
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, errWrongPassphrase
	case err != nil:
		// pemutil's messages name the scheme, never the passphrase. The likely
		// cause is an old scheme, e.g. `openssl pkcs8 -v1`, so name the good ones.
		return nil, fmt.Errorf("decrypting private key (supported: PBES2 PKCS#8, legacy PEM encryption): %w", err)
	}
	return der, nil
}

// checkKey narrows a parsed key to the types and sizes the signer supports, so
// that an unusable key is a load-time error rather than a failure at the first
// token request.
func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, need at least %d", bits, MinRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("unsupported EC curve %s (want P-256)", k.Curve.Params().Name)
		}
		return k, nil
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("malformed Ed25519 key")
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", key)
	}
}

// GenerateKey creates the signing key used when the operator configures none:
// ECDSA P-256 (ES256), whose keys and signatures are small and fast to make.
func GenerateKey() (crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating P-256 key: %w", err)
	}
	return key, nil
}

// MarshalPrivateKey encodes a key as unencrypted PKCS#8 PEM, the format in which
// a generated key is kept in Caddy's storage; ParsePrivateKey reads it back.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	if _, err := checkKey(key); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshaling private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicKey reads a key published for verification only: a PUBLIC KEY
// (PKIX) or RSA PUBLIC KEY (PKCS#1) block, or an unencrypted private key in
// any format ParsePrivateKey reads, whose public half is taken, so that the
// operator's next key file can be named before it signs. Only keys that
// NewVerifier accepts are returned.
func ParsePublicKey(pemData []byte) (crypto.PublicKey, error) {
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing public key: %w", err)
		}
		if _, err := algorithmOf(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
	key, err := ParsePrivateKey(pemData, nil)
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}
