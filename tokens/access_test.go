package tokens

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testIssuedAt = time.Unix(1700000000, 0).UTC()

func testClaims() AccessClaims {
	return AccessClaims{
		Issuer:   "https://auth.example.com",
		Subject:  "u-1001",
		Audience: []string{"api"},
		ClientID: "web",
		Scopes:   []string{"read", "write"},
		IssuedAt: testIssuedAt,
		Expiry:   testIssuedAt.Add(time.Hour),
		ID:       "jti-1",
	}
}

// segments returns the decoded header and payload of a compact JWS.
func segments(tb testing.TB, token string) (header, payload string) {
	tb.Helper()
	parts := strings.Split(token, ".")
	require.Len(tb, parts, 3)
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(tb, err)
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(tb, err)
	return string(h), string(p)
}

func mint(tb testing.TB, s *Signer, c AccessClaims) string {
	tb.Helper()
	token, err := s.Mint(c)
	require.NoError(tb, err)
	return token
}

// forge signs claims with any method and key under the given header fields, to
// build the tokens an attacker could present.
func forge(tb testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	signed, err := tok.SignedString(key)
	require.NoError(tb, err)
	return signed
}

func validMapClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "https://auth.example.com", "sub": "u-1001", "aud": "api", "client_id": "web",
		"scope": "read", "iat": testIssuedAt.Unix(), "nbf": testIssuedAt.Unix(),
		"exp": testIssuedAt.Add(time.Hour).Unix(), "jti": "forged",
	}
}

func TestMint_HeaderNamesAlgorithmTypeAndKey(t *testing.T) {
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			header, _ := segments(t, mint(t, s, testClaims()))
			assert.Equal(t, `{"alg":"`+alg+`","typ":"at+jwt","kid":"`+s.KeyID()+`"}`, header)
		})
	}
}

func TestMint_ClaimsWireFormat(t *testing.T) {
	s := newTestSigner(t, "ec_sec1.pem")
	tests := []struct {
		name   string
		modify func(*AccessClaims)
		want   string
	}{
		{
			name:   "one audience is a string",
			modify: func(*AccessClaims) {},
			want:   `{"iss":"https://auth.example.com","sub":"u-1001","aud":"api","client_id":"web","scope":"read write","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"jti-1"}`,
		},
		{
			name:   "several audiences are an array",
			modify: func(c *AccessClaims) { c.Audience = []string{"api", "admin"} },
			want:   `{"iss":"https://auth.example.com","sub":"u-1001","aud":["api","admin"],"client_id":"web","scope":"read write","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"jti-1"}`,
		},
		{
			name:   "no scope is an empty string",
			modify: func(c *AccessClaims) { c.Scopes = nil },
			want:   `{"iss":"https://auth.example.com","sub":"u-1001","aud":"api","client_id":"web","scope":"","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"jti-1"}`,
		},
		{
			name: "times are whole seconds",
			modify: func(c *AccessClaims) {
				c.IssuedAt = c.IssuedAt.Add(999 * time.Millisecond)
				c.Expiry = c.Expiry.Add(999 * time.Millisecond)
			},
			want: `{"iss":"https://auth.example.com","sub":"u-1001","aud":"api","client_id":"web","scope":"read write","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"jti-1"}`,
		},
		{
			name:   "strings are escaped",
			modify: func(c *AccessClaims) { c.Subject = `a"b\c` },
			want:   `{"iss":"https://auth.example.com","sub":"a\"b\\c","aud":"api","client_id":"web","scope":"read write","iat":1700000000,"nbf":1700000000,"exp":1700003600,"jti":"jti-1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.modify(&c)
			_, payload := segments(t, mint(t, s, c))
			assert.Equal(t, tt.want, payload)
		})
	}
}

func TestMint_RejectsExpiryNotAfterIssue(t *testing.T) {
	s := newTestSigner(t, "ec_sec1.pem")
	c := testClaims()
	c.Expiry = c.IssuedAt
	_, err := s.Mint(c)
	assert.ErrorIs(t, err, errExpiryOrder)
}

func TestVerify_ReturnsMintedClaims(t *testing.T) {
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			tests := []struct {
				name   string
				modify func(*AccessClaims)
			}{
				{"one audience", func(*AccessClaims) {}},
				{"two audiences", func(c *AccessClaims) { c.Audience = []string{"api", "admin"} }},
				{"no scope", func(c *AccessClaims) { c.Scopes = nil }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					want := testClaims()
					tt.modify(&want)
					got, err := s.Verify(mint(t, s, want), testIssuedAt.Add(time.Minute))
					require.NoError(t, err)
					want.NotBefore = want.IssuedAt // Mint writes nbf = iat
					assert.Equal(t, &want, got)
				})
			}
		})
	}
}

func TestVerify_ChecksTimeWindow(t *testing.T) {
	s := newTestSigner(t, "ec_sec1.pem")
	token := mint(t, s, testClaims())
	exp := testClaims().Expiry
	tests := []struct {
		name    string
		now     time.Time
		wantErr error
	}{
		{"before nbf", testIssuedAt.Add(-time.Second), jwt.ErrTokenNotValidYet},
		{"at nbf", testIssuedAt, nil},
		{"just before exp", exp.Add(-time.Second), nil},
		{"at exp", exp, jwt.ErrTokenExpired},
		{"long after exp", exp.Add(24 * time.Hour), jwt.ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(token, tt.now)
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestVerify_RejectsTamperedToken(t *testing.T) {
	now := testIssuedAt.Add(time.Minute)
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			token := mint(t, s, testClaims())
			parts := strings.Split(token, ".")
			other := testClaims()
			other.Subject = "admin"
			otherParts := strings.Split(mint(t, s, other), ".")
			// Changing the first character of the signature changes its first byte.
			flipped := []byte(parts[2])
			if flipped[0] == 'A' {
				flipped[0] = 'B'
			} else {
				flipped[0] = 'A'
			}

			tests := map[string]string{
				"claims swapped under the signature": parts[0] + "." + otherParts[1] + "." + parts[2],
				"signature character changed":        parts[0] + "." + parts[1] + "." + string(flipped),
				"signature removed":                  parts[0] + "." + parts[1] + ".",
				"signature segment missing":          parts[0] + "." + parts[1],
				"padded signature":                   token + "==",
				"empty":                              "",
				"garbage":                            "not.a.jwt",
			}
			for name, tampered := range tests {
				t.Run(name, func(t *testing.T) {
					claims, err := s.Verify(tampered, now)
					assert.Error(t, err)
					assert.Nil(t, claims)
				})
			}
		})
	}
}

func TestVerify_RejectsTokenOfAnotherKey(t *testing.T) {
	now := testIssuedAt.Add(time.Minute)
	s := newTestSigner(t, "ec_sec1.pem")
	otherKey, err := GenerateKey()
	require.NoError(t, err)
	other, err := NewSigner(otherKey)
	require.NoError(t, err)

	t.Run("minted by another signer", func(t *testing.T) {
		_, err := s.Verify(mint(t, other, testClaims()), now)
		assert.ErrorIs(t, err, errUnknownKeyID)
	})
	t.Run("signed by another key under this kid", func(t *testing.T) {
		token := forge(t, jwt.SigningMethodES256, otherKey, map[string]any{"typ": "at+jwt", "kid": s.KeyID()}, validMapClaims())
		_, err := s.Verify(token, now)
		assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
	})
}

func TestVerify_RejectsAlgorithmConfusion(t *testing.T) {
	now := testIssuedAt.Add(time.Minute)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for alg, file := range signerFixtures {
		t.Run(alg, func(t *testing.T) {
			s := newTestSigner(t, file)
			header := map[string]any{"typ": "at+jwt", "kid": s.KeyID()}
			der, err := x509.MarshalPKIXPublicKey(s.PublicKey())
			require.NoError(t, err)
			pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

			tests := map[string]string{
				"alg none":                            forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, header, validMapClaims()),
				"HS256 keyed with the public key PEM": forge(t, jwt.SigningMethodHS256, pubPEM, header, validMapClaims()),
				"HS256 keyed with the public key DER": forge(t, jwt.SigningMethodHS256, der, header, validMapClaims()),
			}
			for name, token := range tests {
				t.Run(name, func(t *testing.T) {
					_, err := s.Verify(token, now)
					assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
				})
			}
			if alg != "EdDSA" {
				t.Run("another asymmetric alg", func(t *testing.T) {
					_, err := s.Verify(forge(t, jwt.SigningMethodEdDSA, edKey, header, validMapClaims()), now)
					assert.ErrorIs(t, err, errWrongAlgorithm)
				})
			}
		})
	}
}

func TestVerify_RequiresAccessTokenType(t *testing.T) {
	now := testIssuedAt.Add(time.Minute)
	key := loadKey(t, "ec_sec1.pem")
	s, err := NewSigner(key)
	require.NoError(t, err)
	tests := []struct {
		typ     any
		wantErr error
	}{
		{"at+jwt", nil},
		{"application/at+jwt", nil},
		{"AT+JWT", nil},
		{"JWT", errNotAccessToken},
		{nil, errNotAccessToken},
		{42, errNotAccessToken},
	}
	for _, tt := range tests {
		header := map[string]any{"kid": s.KeyID(), "typ": tt.typ}
		token := forge(t, jwt.SigningMethodES256, key, header, validMapClaims())
		_, err := s.Verify(token, now)
		if tt.wantErr == nil {
			assert.NoError(t, err, "typ %v", tt.typ)
			continue
		}
		assert.ErrorIs(t, err, tt.wantErr, "typ %v", tt.typ)
	}
}

func TestVerify_RequiresExpiry(t *testing.T) {
	key := loadKey(t, "ec_sec1.pem")
	s, err := NewSigner(key)
	require.NoError(t, err)
	claims := validMapClaims()
	delete(claims, "exp")
	token := forge(t, jwt.SigningMethodES256, key, map[string]any{"typ": "at+jwt", "kid": s.KeyID()}, claims)
	_, err = s.Verify(token, testIssuedAt)
	assert.ErrorIs(t, err, jwt.ErrTokenRequiredClaimMissing)
}

func TestVerify_RejectsMalformedAudience(t *testing.T) {
	key := loadKey(t, "ec_sec1.pem")
	s, err := NewSigner(key)
	require.NoError(t, err)
	claims := validMapClaims()
	claims["aud"] = 42
	token := forge(t, jwt.SigningMethodES256, key, map[string]any{"typ": "at+jwt", "kid": s.KeyID()}, claims)
	_, err = s.Verify(token, testIssuedAt)
	assert.ErrorIs(t, err, jwt.ErrTokenMalformed)
}

func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		b.Run(alg, func(b *testing.B) {
			s := newTestSigner(b, signerFixtures[alg])
			c := testClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Mint(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b, signerFixtures["ES256"])
	token := mint(b, s, testClaims())
	now := testIssuedAt.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(token, now); err != nil {
			b.Fatal(err)
		}
	}
}

// marshalClaims is the reference for appendClaims: json.Marshal of the wire
// struct, which is how Mint encoded claims before it wrote them by hand.
func marshalClaims(tb testing.TB, c *AccessClaims) []byte {
	tb.Helper()
	want, err := json.Marshal(&accessJSON{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  c.Audience,
		ClientID:  c.ClientID,
		Scope:     strings.Join(c.Scopes, " "),
		IssuedAt:  c.IssuedAt.Unix(),
		NotBefore: c.IssuedAt.Unix(),
		Expiry:    c.Expiry.Unix(),
		ID:        c.ID,
	})
	require.NoError(tb, err)
	return want
}

// requireSameClaimsJSON checks that Mint's hand-written claims mean what
// encoding/json writes, and that they are byte for byte the same, so that the
// tokens did not change.
func requireSameClaimsJSON(tb testing.TB, c *AccessClaims) {
	tb.Helper()
	want := marshalClaims(tb, c)
	got := appendClaims(nil, c, c.IssuedAt.Unix(), c.Expiry.Unix())
	var wantMap, gotMap map[string]any
	require.NoError(tb, json.Unmarshal(want, &wantMap))
	require.NoError(tb, json.Unmarshal(got, &gotMap), "claims JSON %q", got)
	require.Equal(tb, wantMap, gotMap)
	require.Equal(tb, string(want), string(got))
}

func TestAppendClaims_MatchesEncodingJSON(t *testing.T) {
	shapes := map[string]func(c *AccessClaims, s string){
		"issuer":        func(c *AccessClaims, s string) { c.Issuer = s },
		"subject":       func(c *AccessClaims, s string) { c.Subject = s },
		"one audience":  func(c *AccessClaims, s string) { c.Audience = []string{s} },
		"audiences":     func(c *AccessClaims, s string) { c.Audience = []string{"api", s, s} },
		"no audience":   func(c *AccessClaims, s string) { c.Audience, c.Subject = nil, s },
		"empty aud":     func(c *AccessClaims, s string) { c.Audience, c.Subject = []string{}, s },
		"client_id":     func(c *AccessClaims, s string) { c.ClientID = s },
		"one scope":     func(c *AccessClaims, s string) { c.Scopes = []string{s} },
		"scopes":        func(c *AccessClaims, s string) { c.Scopes = []string{s, "read", s} },
		"jti":           func(c *AccessClaims, s string) { c.ID = s },
		"all, no iss":   func(c *AccessClaims, s string) { c.Issuer, c.Subject, c.ClientID, c.ID = "", s, s, s },
		"negative time": func(c *AccessClaims, s string) { c.IssuedAt, c.Expiry, c.ID = time.Unix(-5, 0), time.Unix(-1, 0), s },
	}
	for shape, set := range shapes {
		for name, s := range trickyStrings {
			t.Run(shape+"/"+name, func(t *testing.T) {
				c := testClaims()
				set(&c, s)
				requireSameClaimsJSON(t, &c)
			})
		}
	}
}
