package tokens

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifier_JWKHasOnlyPublicMembers checks the key set entry of each key
// type: the public members and kid, alg and use, and never a private one,
// although every verifier here is made from a private key's signer.
func TestVerifier_JWKHasOnlyPublicMembers(t *testing.T) {
	want := map[string][]string{
		"RS256": {"alg", "e", "kid", "kty", "n", "use"},
		"ES256": {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"EdDSA": {"alg", "crv", "kid", "kty", "use", "x"},
	}
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			var jwk map[string]string
			require.NoError(t, json.Unmarshal(s.JWK(), &jwk))
			assert.Equal(t, want[alg], slices.Sorted(maps.Keys(jwk)))
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
				assert.NotContains(t, jwk, private)
			}
			assert.Equal(t, alg, jwk["alg"])
			assert.Equal(t, "sig", jwk["use"])
			assert.Equal(t, s.KeyID(), jwk["kid"])

			// The kid is the thumbprint of exactly these public members.
			members, err := publicMembers(s.PublicKey())
			require.NoError(t, err)
			for name, v := range members {
				assert.Equal(t, v, jwk[name], name)
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			der, err := x509.MarshalPKIXPublicKey(s.PublicKey())
			require.NoError(t, err)

			fromPublic, err := ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			require.NoError(t, err)
			assert.Equal(t, s.PublicKey(), fromPublic)

			fromPrivate, err := ParsePublicKey(readFixture(t, file))
			require.NoError(t, err)
			assert.Equal(t, s.PublicKey(), fromPrivate)
		})
	}
	t.Run("garbage", func(t *testing.T) {
		_, err := ParsePublicKey([]byte("not a key"))
		assert.Error(t, err)
	})
}

func TestVerifyAccessToken_FindsTheKeyByKid(t *testing.T) {
	a := newTestSigner(t, "ec_sec1.pem")
	b := newTestSigner(t, "rsa_pkcs1.pem")
	keys := func(kid string) *Verifier {
		for _, s := range []*Signer{a, b} {
			if s.KeyID() == kid {
				return s.Verifier
			}
		}
		return nil
	}
	for _, s := range []*Signer{a, b} {
		claims, err := VerifyAccessToken(mint(t, s, testClaims()), testIssuedAt, keys)
		require.NoError(t, err)
		assert.Equal(t, testClaims().ID, claims.ID)
	}
	other := newTestSigner(t, "ed25519_pkcs8.pem")
	_, err := VerifyAccessToken(mint(t, other, testClaims()), testIssuedAt, keys)
	assert.ErrorIs(t, err, errUnknownKeyID)
}

func TestParsePublicKey_PublicKeyFixture(t *testing.T) {
	pub, err := ParsePublicKey(readFixture(t, "ec_public.pem"))
	require.NoError(t, err)
	_, err = NewVerifier(pub)
	assert.NoError(t, err)
	_, err = ParsePublicKey(readFixture(t, "rsa_1024.pem"))
	assert.Error(t, err, "a key too small to sign is too small to verify")
}
