package tokens

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// verifyJWS checks the signature of a compact JWS with the standard library
// alone, as a resource server not using golang-jwt would.
func verifyJWS(tb testing.TB, pub any, token string) {
	tb.Helper()
	dot := strings.LastIndexByte(token, '.')
	require.Positive(tb, dot)
	input := []byte(token[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	require.NoError(tb, err)
	digest := sha256.Sum256(input)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// RFC 7518 §3.4: r || s, 32 bytes each, not ASN.1.
		require.Len(tb, sig, 64)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		assert.True(tb, ecdsa.Verify(k, digest[:], r, s), "ES256 signature")
	case ed25519.PublicKey:
		require.Len(tb, sig, ed25519.SignatureSize)
		assert.True(tb, ed25519.Verify(k, input, sig), "EdDSA signature")
	case *rsa.PublicKey:
		require.Len(tb, sig, k.Size())
		assert.NoError(tb, rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig), "RS256 signature")
	default:
		tb.Fatalf("unexpected public key %T", pub)
	}
}

func TestMint_SignatureVerifies(t *testing.T) {
	now := testIssuedAt.Add(time.Minute)
	long := testClaims()
	// Larger than Mint's stack buffers, so that they must grow.
	long.Subject = strings.Repeat("s", 2*tokenScratch)
	long.Scopes = []string{strings.Repeat("r", claimsScratch), "write"}
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			for name, c := range map[string]AccessClaims{"typical": testClaims(), "oversized": long} {
				t.Run(name, func(t *testing.T) {
					token := mint(t, s, c)
					verifyJWS(t, s.PublicKey(), token)

					parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return s.PublicKey(), nil },
						jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(func() time.Time { return now }))
					require.NoError(t, err, "plain golang-jwt parse")
					assert.Equal(t, c.Subject, parsed.Claims.(jwt.MapClaims)["sub"])

					got, err := s.Verify(token, now)
					require.NoError(t, err)
					want := c
					want.NotBefore = c.IssuedAt // Mint writes nbf = iat
					assert.Equal(t, &want, got)
				})
			}
		})
	}
}

func TestMint_ES256SignaturesAreFixedLength(t *testing.T) {
	// About one signature in 128 has an r or s below 2^248, which DER writes
	// short and JWS must left-pad; 600 tokens include one with odds of 99%.
	// TestECDSARawSignature_LeftPadsEachHalf covers the padding deterministically.
	s := newTestSigner(t, signerFixtures["ES256"])
	for range 600 {
		verifyJWS(t, s.PublicKey(), mint(t, s, testClaims()))
	}
}

// derSignature builds an ECDSA-Sig-Value from the raw contents of its two INTEGERs.
func derSignature(tb testing.TB, r, s []byte) []byte {
	tb.Helper()
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(r) })
		b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(s) })
	})
	der, err := b.Bytes()
	require.NoError(tb, err)
	return der
}

func TestECDSARawSignature_LeftPadsEachHalf(t *testing.T) {
	high := append([]byte{0x00, 0x80}, bytes.Repeat([]byte{0x11}, 31)...) // 32 significant bytes, sign byte added
	var want [64]byte
	want[31] = 0x01
	copy(want[32:], high[1:])

	var got [64]byte
	got[0] = 0xff // stale content must not survive
	require.NoError(t, ecdsaRawSignature(&got, derSignature(t, []byte{0x01}, high)))
	assert.Equal(t, want, got)
}

func TestECDSARawSignature_RejectsMalformedDER(t *testing.T) {
	ok := derSignature(t, []byte{0x01}, []byte{0x02})
	tests := map[string][]byte{
		"empty":              nil,
		"trailing data":      append(append([]byte{}, ok...), 0x00),
		"truncated":          ok[:len(ok)-1],
		"r wider than P-256": derSignature(t, append([]byte{0x01}, make([]byte, 32)...), []byte{0x02}),
		"negative s":         derSignature(t, []byte{0x01}, []byte{0x80}),
		"one integer": func() []byte {
			var b cryptobyte.Builder
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
			return b.BytesOrPanic()
		}(),
	}
	for name, der := range tests {
		t.Run(name, func(t *testing.T) {
			var out [64]byte
			assert.ErrorIs(t, ecdsaRawSignature(&out, der), errMalformedECDSA)
		})
	}
}
