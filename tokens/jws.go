package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// es256FieldSize is the byte length of r and of s in an ES256 signature.
const es256FieldSize = 32

// errMalformedECDSA means crypto/ecdsa returned a signature that is not the
// DER SEQUENCE of two P-256 integers; it does not happen short of a bug.
var errMalformedECDSA = errors.New("malformed ECDSA signature")

// appendSignature signs signingInput, the "header.payload" of a compact JWS,
// and appends ".signature" to dst (RFC 7515 §7.1). It signs with the standard
// library directly rather than through a jwt.SigningMethod: Mint runs on every
// token request, and the jwt library's path hashes through an allocated
// hash.Hash and converts ECDSA signatures through big.Int.
//
// dst and signingInput may share their backing array: the signature is made
// before anything is appended.
func (s *Signer) appendSignature(dst, signingInput []byte) ([]byte, error) {
	var raw [2 * es256FieldSize]byte // ES256 and EdDSA signatures are both 64 bytes
	var sig []byte
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(signingInput)
		der, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
		if err != nil {
			return nil, fmt.Errorf("signing access token: %w", err)
		}
		if err := ecdsaRawSignature(&raw, der); err != nil {
			return nil, fmt.Errorf("signing access token: %w", err)
		}
		sig = raw[:]
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, signingInput) // EdDSA signs the message itself (RFC 8037 §3.1)
	case *rsa.PrivateKey:
		digest := sha256.Sum256(signingInput)
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:]); err != nil {
			return nil, fmt.Errorf("signing access token: %w", err)
		}
	default:
		// NewSigner admits no other key type.
		return nil, fmt.Errorf("signing access token: unsupported key type %T", s.key)
	}
	dst = append(dst, '.')
	return base64.RawURLEncoding.AppendEncode(dst, sig), nil
}

// ecdsaRawSignature converts the DER signature crypto/ecdsa returns into the
// JWS form, r || s with each left-padded to 32 bytes (RFC 7518 §3.4). JWS has
// no ASN.1: a DER signature would not verify anywhere.
func ecdsaRawSignature(out *[2 * es256FieldSize]byte, der []byte) error {
	var seq cryptobyte.String
	var r, s []byte // big-endian, without leading zeros
	input := cryptobyte.String(der)
	if !input.ReadASN1(&seq, asn1.SEQUENCE) || !input.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		len(r) > es256FieldSize || len(s) > es256FieldSize {
		return errMalformedECDSA
	}
	*out = [2 * es256FieldSize]byte{}
	copy(out[es256FieldSize-len(r):es256FieldSize], r)
	copy(out[2*es256FieldSize-len(s):], s)
	return nil
}
