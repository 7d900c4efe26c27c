package interop_test

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
	"testing"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/require"
)

// keyFile is a private key given to oauth2_server with private_key, and the
// algorithm it must sign with.
type keyFile struct {
	alg string
	key crypto.Signer
}

// TestKeyFiles checks that each verifier accepts the tokens of a configured
// key of every type the plugin takes, found through the JWKS by their kid,
// and refuses a tampered one and a forged one: the same claims, signed by
// another key of the same type, which the issuer never published.
func TestKeyFiles(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	keys := []keyFile{{"RS256", rsaKey}, {"ES256", ecKey}, {"EdDSA", edKey}}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	forgers := []crypto.Signer{otherRSA, otherEC, otherEd}

	// One caddy process, with a site per key.
	bin := caddyBinary(t)
	definitions := writeDefinitions(t)
	servers := make([]authServer, len(keys))
	sites := make([]string, len(keys))
	addrs := make([]string, len(keys))
	for i, k := range keys {
		servers[i] = newAuthServer(t)
		sites[i] = servers[i].site(definitions, "private_key "+writePKCS8(t, k.key))
		addrs[i] = servers[i].addr
	}
	startCaddy(t, bin, caddyfile(t, sites...), nil, addrs...)

	tokens := make([]string, len(keys))
	for i, srv := range servers {
		tokens[i] = srv.mustToken(t)
	}
	for i, k := range keys {
		srv := servers[i]
		t.Run(k.alg, func(t *testing.T) {
			// The kid is the key's RFC 7638 thumbprint, as jwx computes it.
			kid := thumbprint(t, k.key.Public())
			require.Equal(t, []string{kid}, srv.mustKIDs(t))
			require.Equal(t, joseHeader{Alg: k.alg, Typ: accessTokenType, Kid: kid}, header(t, tokens[i]))

			forged := forge(t, tokens[i], forgers[i])
			want := srv.expect(k.alg)
			for _, v := range []verifier{
				newKeyfuncVerifier(t, srv.jwksURL()),
				newJWXVerifier(t, srv.jwksURL()),
				joseVerifier{jwksURL: srv.jwksURL()},
			} {
				t.Run(v.name(), func(t *testing.T) {
					v.ready(t)
					requireAccepted(t, v, tokens[i], want)
					requireRefused(t, v, tamper(t, tokens[i]), want, badSignature)
					requireRefused(t, v, forged, want, unknownKey)
				})
			}
		})
	}
}

// forge returns a token with the header and claims of genuine, but signed by
// key, and naming it by its own thumbprint, as an attacker would who has the
// issuer's URL but not its key.
func forge(t *testing.T, genuine string, key crypto.Signer) string {
	t.Helper()
	h := header(t, genuine)
	var claims gojwt.MapClaims
	_, _, err := gojwt.NewParser().ParseUnverified(genuine, &claims)
	require.NoError(t, err)
	forged := gojwt.NewWithClaims(gojwt.GetSigningMethod(h.Alg), claims)
	forged.Header["typ"] = h.Typ
	forged.Header["kid"] = thumbprint(t, key.Public())
	signed, err := forged.SignedString(key)
	require.NoError(t, err)
	return signed
}

// writePKCS8 writes key as an unencrypted PKCS#8 PEM file and returns its path.
func writePKCS8(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url, as
// jwx computes it.
func thumbprint(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	key, err := jwk.FromRaw(pub)
	require.NoError(t, err)
	sum, err := key.Thumbprint(crypto.SHA256)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(sum)
}
