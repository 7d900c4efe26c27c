package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signerFixtures are the key files of the three algorithms, by algorithm.
var signerFixtures = map[string]string{
	"ES256": "ec_sec1.pem",
	"EdDSA": "ed25519_pkcs8.pem",
	"RS256": "rsa_pkcs1.pem",
}

func newTestSigner(tb testing.TB, file string) *Signer {
	tb.Helper()
	s, err := NewSigner(loadKey(tb, file))
	require.NoError(tb, err)
	return s
}

func TestNewSigner_AlgorithmFollowsKey(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"rsa_pkcs1.pem", "RS256"},
		{"rsa_pkcs8_encrypted.pem", "RS256"},
		{"ec_sec1.pem", "ES256"},
		{"ec_pkcs8_encrypted.pem", "ES256"},
		{"ed25519_pkcs8.pem", "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			key := loadKey(t, tt.file)
			s, err := NewSigner(key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.Algorithm())
			assert.Equal(t, key.Public(), s.PublicKey())
		})
	}
}

// opaqueSigner is a crypto.Signer of no type NewSigner knows, like a KMS handle.
type opaqueSigner struct{ crypto.Signer }

func TestNewSigner_RejectsUnsupportedKeys(t *testing.T) {
	block, _ := pem.Decode(readFixture(t, "rsa_1024.pem"))
	rsa1024, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p256, err := GenerateKey()
	require.NoError(t, err)

	tests := []struct {
		name    string
		key     crypto.Signer
		wantErr string
	}{
		{"nil", nil, "no signing key"},
		{"RSA 1024", rsa1024, "RSA key has 1024 bits, need at least 2048"},
		{"P-384", p384, "unsupported EC curve P-384"},
		{"unknown signer type", opaqueSigner{p256}, "unsupported key type tokens.opaqueSigner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.key)
			assert.Nil(t, s)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestSigner_KeyIDIsJWKThumbprint(t *testing.T) {
	// Values cross-checked against go-jose's JSONWebKey.Thumbprint.
	tests := []struct {
		file string
		want string
	}{
		{"ec_sec1.pem", "AD2JUV2kbGWbJJqYofSfK3SduqcvYp05xw7u2nRkY74"},
		{"rsa_pkcs8.pem", "fBWjAPxSuR6NrcO1EpXjGK6NuQJDFUHfuui6vQlgpRk"},
		{"ed25519_pkcs8.pem", "Xyfd0e7CsfTOpmfDf3sKEjas2UQlFSnxS3GIjb3S-iY"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			assert.Equal(t, tt.want, newTestSigner(t, tt.file).KeyID())
		})
	}
}

func TestThumbprint_RFCVectors(t *testing.T) {
	b64 := base64.RawURLEncoding
	// RFC 7638 §3.1.
	n, err := b64.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	require.NoError(t, err)
	// RFC 8037 appendix A.2 and A.3.
	x, err := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)

	tests := []struct {
		name string
		key  crypto.PublicKey
		want string
	}{
		{"RFC 7638 RSA", &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 Ed25519", ed25519.PublicKey(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := thumbprint(tt.key)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSigner_KeyIDDiffersPerKey(t *testing.T) {
	a, err := GenerateKey()
	require.NoError(t, err)
	b, err := GenerateKey()
	require.NoError(t, err)
	sa, err := NewSigner(a)
	require.NoError(t, err)
	sb, err := NewSigner(b)
	require.NoError(t, err)
	assert.NotEqual(t, sa.KeyID(), sb.KeyID())
	assert.Len(t, sa.KeyID(), 43)
}

func TestNewSigner_PrecomputesRSAKeyWithoutChangingIt(t *testing.T) {
	parsed := loadKey(t, "rsa_pkcs1.pem").(*rsa.PrivateKey)
	// A key built by hand has no CRT values until Precompute runs.
	bare := &rsa.PrivateKey{PublicKey: parsed.PublicKey, D: parsed.D, Primes: parsed.Primes}
	s, err := NewSigner(bare)
	require.NoError(t, err)

	assert.Nil(t, bare.Precomputed.Dp, "the caller's key must not be modified")
	signing := s.key.(*rsa.PrivateKey)
	assert.NotNil(t, signing.Precomputed.Dp)
	assert.NoError(t, signing.Validate())
	assert.Equal(t, bare.Public(), s.PublicKey())
	_, err = s.Verify(mint(t, s, testClaims()), testIssuedAt)
	assert.NoError(t, err)
}
