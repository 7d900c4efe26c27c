package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Signer mints and verifies the access tokens of one signing key. Everything
// that depends only on the key (algorithm, key id, the encoded JOSE header, the
// RSA CRT values) is computed once by NewSigner, so that Mint, which runs on
// every token request, only encodes the claims and signs. A Signer is safe for
// concurrent use.
type Signer struct {
	key          crypto.Signer // *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey
	public       crypto.PublicKey
	alg          string
	validMethods []string // the one algorithm Verify accepts: no alg confusion
	kid          string
	header       string // base64url JOSE header, the constant first segment
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

	var alg string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = jwt.SigningMethodRS256.Alg()
		// A key built by hand rather than parsed lacks the CRT values, and
		// crypto/rsa would then derive and check them again on every signature.
		// Precompute on a copy, leaving the caller's key untouched.
		precomputed := *k
		precomputed.Precompute()
		key = &precomputed
	case *ecdsa.PrivateKey:
		alg = jwt.SigningMethodES256.Alg()
	case ed25519.PrivateKey:
		alg = jwt.SigningMethodEdDSA.Alg()
	}

	public := key.Public()
	kid, err := thumbprint(public)
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(jwtHeader{Alg: alg, Typ: accessTokenType, Kid: kid})
	if err != nil {
		return nil, fmt.Errorf("encoding JOSE header: %w", err)
	}
	return &Signer{
		key:          key,
		public:       public,
		alg:          alg,
		validMethods: []string{alg},
		kid:          kid,
		header:       base64.RawURLEncoding.EncodeToString(header),
	}, nil
}

// Algorithm returns the JWS algorithm of the tokens, "RS256", "ES256" or "EdDSA",
// as a JWKS document must announce it.
func (s *Signer) Algorithm() string { return s.alg }

// KeyID returns the kid of the tokens: the RFC 7638 thumbprint of the public
// key, so that it is stable across restarts and instances sharing the key and
// changes exactly when the key does.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the key that verifies the tokens, for publishing in a JWKS.
func (s *Signer) PublicKey() crypto.PublicKey { return s.public }
