package tokens

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Signer mints and verifies the access tokens of one signing key. Everything
// that depends only on the key (algorithm, key id, the encoded JOSE header, the
// RSA CRT values) is computed once by NewSigner, so that Mint, which runs on
// every token request, only encodes the claims and signs. A Signer is safe for
// concurrent use.
type Signer struct {
	// Verifier checks the tokens of the signing key's public half; its
	// KeyID, Algorithm and PublicKey are the signer's.
	*Verifier
	key    crypto.Signer // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	header string        // base64url JOSE header, the constant first segment
}

// jwtHeader is the JOSE header of every access token; typ is fixed by RFC 9068 §2.1.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// NewSigner prepares key for signing access tokens. The algorithm follows the
// key, so an operator only chooses a key: RSA (at least 2048 bits) signs RS256,
// EC P-256 signs ES256 and Ed25519 signs EdDSA. Any other key is an error.
func NewSigner(key crypto.Signer) (*Signer, error) {
	if key == nil {
		return nil, errors.New("no signing key")
	}
	if _, err := checkKey(key); err != nil {
		return nil, err
	}

	if k, ok := key.(*rsa.PrivateKey); ok {
		// A key built by hand rather than parsed lacks the CRT values, and
		// crypto/rsa would then derive and check them again on every signature.
		// Precompute on a copy, leaving the caller's key untouched.
		precomputed := *k
		precomputed.Precompute()
		key = &precomputed
	}

	verifier, err := NewVerifier(key.Public())
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(jwtHeader{Alg: verifier.alg, Typ: accessTokenType, Kid: verifier.kid})
	if err != nil {
		return nil, fmt.Errorf("encoding JOSE header: %w", err)
	}
	return &Signer{
		Verifier: verifier,
		key:      key,
		header:   base64.RawURLEncoding.EncodeToString(header),
	}, nil
}

// Key returns the private key, for keeping a generated key in storage.
func (s *Signer) Key() crypto.Signer { return s.key }
