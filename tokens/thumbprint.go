package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
)

// thumbprint returns the RFC 7638 JWK thumbprint of pub: SHA-256 over the JSON
// of the key's required members in lexicographic order, without whitespace,
// base64url-encoded without padding. The members are base64url strings and
// fixed names, so the JSON is written directly: no escaping can arise.
func thumbprint(pub crypto.PublicKey) (string, error) {
	b64 := base64.RawURLEncoding
	var jwk string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		// RFC 7518 §6.3.1: e and n are unsigned big-endian without leading zeros.
		e := big.NewInt(int64(k.E)).Bytes()
		jwk = `{"e":"` + b64.EncodeToString(e) + `","kty":"RSA","n":"` + b64.EncodeToString(k.N.Bytes()) + `"}`
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("unsupported EC curve %s (want P-256)", k.Curve.Params().Name)
		}
		// Uncompressed point 0x04 || x || y, each coordinate already padded to
		// the field size as RFC 7518 §6.2.1.2 requires.
		point, err := k.Bytes()
		if err != nil {
			return "", fmt.Errorf("encoding EC public key: %w", err)
		}
		n := (len(point) - 1) / 2
		jwk = `{"crv":"P-256","kty":"EC","x":"` + b64.EncodeToString(point[1:1+n]) +
			`","y":"` + b64.EncodeToString(point[1+n:]) + `"}`
	case ed25519.PublicKey:
		// RFC 8037 §2: an Ed25519 key is an OKP key whose x is the raw public key.
		jwk = `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(k) + `"}`
	default:
		return "", fmt.Errorf("unsupported public key type %T", pub)
	}
	sum := sha256.Sum256([]byte(jwk))
	return b64.EncodeToString(sum[:]), nil
}
