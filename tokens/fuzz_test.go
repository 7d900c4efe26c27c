package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzOpen feeds Open arbitrary strings, starting from real tokens: it must
// never panic, must reject with ErrInvalidToken, and whatever it accepts must
// survive a re-seal unchanged.
func FuzzOpen(f *testing.F) {
	s := newTestSealer(f, testSecret)
	for _, p := range []RefreshPayload{
		testPayload(),
		{ID: "a", FamilyID: "b", ClientID: "c"},
		{ID: NewID(), FamilyID: NewID(), ClientID: "web", Scopes: []string{"openid"}},
	} {
		f.Add(seal(f, s, p))
	}
	token := seal(f, s, testPayload())
	for _, seed := range []string{
		"", "A", "AAAA", "====", "\x00", strings.Repeat("A", minTokenLen),
		token[:len(token)-1], token + "A", token + "\n", "a." + token,
		base64.RawURLEncoding.EncodeToString([]byte{0x01}),
		sealRaw(f, s, ``), sealRaw(f, s, `{}`), sealRaw(f, s, "\xff\xff\xff\xff\xff\xff\xff\xff\x01x\x01y\x01z\x00\x00"),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, token string) {
		p, err := s.Open(token)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidToken)
			require.Nil(t, p)
			return
		}
		require.LessOrEqual(t, len(token), maxTokenLen)
		resealed, err := s.Seal(*p)
		require.NoError(t, err)
		again, err := s.Open(resealed)
		require.NoError(t, err)
		require.Equal(t, p, again)
	})
}

// FuzzParsePayload feeds the payload parser arbitrary bytes, as if they had
// authenticated: it must never panic, and whatever it accepts must be exactly
// what appendPayload writes for the payload it returns: one encoding each.
func FuzzParsePayload(f *testing.F) {
	for _, p := range []RefreshPayload{
		testPayload(),
		{ID: "a", FamilyID: "b", ClientID: "c", ExpiresAt: time.Unix(-1, 0)},
		{ID: NewID(), FamilyID: NewID(), ClientID: "web", Scopes: []string{"openid", ""}},
	} {
		f.Add(appendPayload(nil, &p))
	}
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x81\x00a\x01b\x01c\x00\x00"))

	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parsePayload(b)
		if !ok {
			require.Nil(t, p)
			return
		}
		require.Equal(t, b, appendPayload(nil, p))
	})
}

// FuzzParsePrivateKey checks that no key file, however broken, panics the
// loader, that every key it returns is usable, and that errors never carry the
// passphrase. The passphrase is picked from fixed candidates rather than fuzzed,
// so that a fuzzed one cannot match an error's wording by chance.
func FuzzParsePrivateKey(f *testing.F) {
	passphrases := [][]byte{nil, []byte(fixturePassphrase), []byte(wrongPassphrase)}
	files, err := filepath.Glob(filepath.Join("testdata", "*.pem"))
	require.NoError(f, err)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(data, uint8(0))
		f.Add(data, uint8(1))
		f.Add(data, uint8(2))
	}
	f.Add(malformedEncryptedPKCS8(f, 3, 32), uint8(1))
	f.Add(malformedEncryptedPKCS8(f, 16, 5), uint8(1))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		passphrase := passphrases[int(which)%len(passphrases)]
		key, err := ParsePrivateKey(data, passphrase)
		if err != nil {
			require.Nil(t, key)
			if len(passphrase) > 0 && !bytes.Contains(data, passphrase) {
				require.NotContains(t, err.Error(), string(passphrase))
			}
			return
		}
		_, err = NewSigner(key)
		require.NoError(t, err, "every parsed key must be usable")
	})
}

// FuzzAppendJSONString holds the hand-written JSON string encoder byte for byte
// equal to encoding/json, on any string including invalid UTF-8.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		require.Equal(t, marshalJSONString(t, s), string(got))
	})
}

// FuzzMint mints tokens with arbitrary claim strings and checks that their
// claims JSON is what encoding/json writes, and that Verify returns the claims
// given, as JSON carries them (invalid UTF-8 becomes U+FFFD). It signs with
// EdDSA only: the claims do not depend on the algorithm (TestMint_SignatureVerifies
// covers all three), and EdDSA's deterministic signatures keep coverage
// stable, where ES256's random ones would send the fuzzer minimizing inputs
// that only drew a differently shaped signature.
func FuzzMint(f *testing.F) {
	s := newTestSigner(f, signerFixtures["EdDSA"])
	f.Add("https://auth.example.com", "u-1001", "api", "web", "read write", "jti-1", uint8(1), uint32(1700000000), uint32(3600))
	f.Add("", "", "", "", "", "", uint8(0), uint32(0), uint32(0))
	f.Add("</script>", "a\"b\\c", "\u2028", "\x00\x1f\x7f", "\xff \t\xe2\x80 \u3000x", "🎉", uint8(2), uint32(1), uint32(1))
	for _, s := range trickyStrings {
		f.Add(s, s, s, s, s, s, uint8(2), uint32(1700000000), uint32(60))
	}

	f.Fuzz(func(t *testing.T, iss, sub, aud, clientID, scope, jti string, nAud uint8, iat, ttl uint32) {
		issuedAt := time.Unix(int64(iat)+1, 0).UTC() // 0 would read as an absent iat/nbf
		c := AccessClaims{
			Issuer:   iss,
			Subject:  sub,
			ClientID: clientID,
			Scopes:   strings.Fields(scope), // a scope never holds a space: it could not round-trip
			IssuedAt: issuedAt,
			Expiry:   issuedAt.Add(time.Duration(int64(ttl)+1) * time.Second),
			ID:       jti,
		}
		switch nAud % 3 {
		case 1:
			c.Audience = []string{aud}
		case 2:
			c.Audience = []string{aud, sub}
		}

		token, err := s.Mint(c)
		require.NoError(t, err)
		_, payload := segments(t, token)
		require.Equal(t, string(marshalClaims(t, &c)), payload)

		got, err := s.Verify(token, issuedAt)
		require.NoError(t, err)
		want := viaJSON(t, c)
		want.NotBefore = issuedAt // Mint writes nbf = iat
		require.Equal(t, want, *got)
	})
}

// viaJSON returns c with its strings as a JSON round trip leaves them: each
// byte of invalid UTF-8 replaced by U+FFFD.
func viaJSON(tb testing.TB, c AccessClaims) AccessClaims {
	tb.Helper()
	str := func(s string) string {
		var out string
		require.NoError(tb, json.Unmarshal([]byte(marshalJSONString(tb, s)), &out))
		return out
	}
	all := func(ss []string) []string {
		if len(ss) == 0 {
			return nil
		}
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = str(s)
		}
		return out
	}
	c.Issuer, c.Subject, c.ClientID, c.ID = str(c.Issuer), str(c.Subject), str(c.ClientID), str(c.ID)
	c.Audience, c.Scopes = all(c.Audience), all(c.Scopes)
	return c
}

// FuzzVerifyAccessToken feeds the access token verifier arbitrary strings,
// starting from real tokens of two keys: it must never panic, and what it
// accepts must carry a kid of a published key and verify again.
func FuzzVerifyAccessToken(f *testing.F) {
	ec := newTestSigner(f, "ec_sec1.pem")
	ed := newTestSigner(f, "ed25519_pkcs8.pem")
	keys := func(kid string) *Verifier {
		for _, s := range []*Signer{ec, ed} {
			if s.KeyID() == kid {
				return s.Verifier
			}
		}
		return nil
	}
	token := mint(f, ec, testClaims())
	for _, seed := range []string{
		token, mint(f, ed, testClaims()), token[:len(token)-1], token + "A", "a.b.c", "..", "", ".",
		strings.Replace(token, ".", "..", 1), "eyJhbGciOiJub25lIn0.e30.",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := VerifyAccessToken(token, testIssuedAt, keys)
		if err != nil {
			require.Nil(t, claims)
			return
		}
		again, err := VerifyAccessToken(token, testIssuedAt, keys)
		require.NoError(t, err)
		require.Equal(t, claims, again)
	})
}
