package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
)

// publicMembers returns the required members of pub's JWK (RFC 7517, RFC
// 7518 §6, RFC 8037 §2): the members its RFC 7638 thumbprint is computed over,
// and which a key set publishes. Every value is base64url or a fixed name.
func publicMembers(pub crypto.PublicKey) (map[string]string, error) {
	b64 := base64.RawURLEncoding
	switch k := pub.(type) {
	case *rsa.PublicKey:
		// RFC 7518 §6.3.1: e and n are unsigned big-endian without leading zeros.
		e := big.NewInt(int64(k.E)).Bytes()
		return map[string]string{"kty": "RSA", "e": b64.EncodeToString(e), "n": b64.EncodeToString(k.N.Bytes())}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("unsupported EC curve %s (want P-256)", k.Curve.Params().Name)
		}
		// Uncompressed point 0x04 || x || y, each coordinate already padded to
		// the field size as RFC 7518 §6.2.1.2 requires.
		point, err := k.Bytes()
		if err != nil {
			return nil, fmt.Errorf("encoding EC public key: %w", err)
		}
		n := (len(point) - 1) / 2
		return map[string]string{"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(point[1 : 1+n]), "y": b64.EncodeToString(point[1+n:])}, nil
	case ed25519.PublicKey:
		// RFC 8037 §2: an Ed25519 key is an OKP key whose x is the raw public key.
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(k)}, nil
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
}

// thumbprint returns the RFC 7638 JWK thumbprint of pub: SHA-256 over the JSON
// of the key's required members in lexicographic order, without whitespace,
// base64url-encoded without padding. encoding/json writes a map's keys sorted
// and without whitespace, and the members need no escaping, so its output is
// exactly that canonical form.
func thumbprint(pub crypto.PublicKey) (string, error) {
	members, err := publicMembers(pub)
	if err != nil {
		return "", err
	}
	canonical, err := json.Marshal(members)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// algorithmOf is the one JWS algorithm a key of pub's type is used with
// (RFC 8725 §3.1: each key is used with exactly one algorithm).
func algorithmOf(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return "", fmt.Errorf("RSA key has %d bits, need at least %d", bits, MinRSABits)
		}
		return "RS256", nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("unsupported EC curve %s (want P-256)", k.Curve.Params().Name)
		}
		return "ES256", nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("malformed Ed25519 key")
		}
		return "EdDSA", nil
	default:
		return "", fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", pub)
	}
}
