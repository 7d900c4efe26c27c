package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/hkdf"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef") // exactly 32 bytes

// leagueKey is the encryption key of league/oauth2-server's documentation.
const leagueKey = "lxZFUEsBCJ2Yb14IF2ygAHI5N4+ZAUXXaSeeJm6+twsUmIen"

func newTestSealer(tb testing.TB, secret []byte) *Sealer {
	tb.Helper()
	s, err := NewSealer(secret)
	require.NoError(tb, err)
	return s
}

func testPayload() RefreshPayload {
	return RefreshPayload{
		ID:        "rt-7f3a",
		FamilyID:  "fam-19c2",
		ClientID:  "web",
		UserID:    "u-1001",
		Scopes:    []string{"read", "write"},
		ExpiresAt: time.Unix(1702592000, 0).UTC(),
	}
}

func seal(tb testing.TB, s *Sealer, p RefreshPayload) string {
	tb.Helper()
	token, err := s.Seal(p)
	require.NoError(tb, err)
	return token
}

func TestSealer_RoundTrip(t *testing.T) {
	s := newTestSealer(t, testSecret)
	tests := []struct {
		name   string
		modify func(*RefreshPayload)
	}{
		{"full payload", func(*RefreshPayload) {}},
		{"no user", func(p *RefreshPayload) { p.UserID = "" }},
		{"no scopes", func(p *RefreshPayload) { p.Scopes = nil }},
		{"unicode and quotes", func(p *RefreshPayload) { p.UserID = `ü"\<>` }},
		{"zero expiry", func(p *RefreshPayload) { p.ExpiresAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := testPayload()
			tt.modify(&want)
			token := seal(t, s, want)
			assert.NotContains(t, token, "=", "no padding")
			got, err := s.Open(token)
			require.NoError(t, err)
			assert.Equal(t, &want, got)
		})
	}
}

func TestSealer_ExpiryKeepsWholeSeconds(t *testing.T) {
	s := newTestSealer(t, testSecret)
	p := testPayload()
	p.ExpiresAt = time.Date(2030, 1, 2, 3, 4, 5, 999_000_000, time.FixedZone("CET", 3600))
	got, err := s.Open(seal(t, s, p))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2030, 1, 2, 2, 4, 5, 0, time.UTC), got.ExpiresAt)
}

func TestSealer_WireFormat(t *testing.T) {
	// Decrypt with an independent HKDF (x/crypto) and plain AES-GCM, so that a
	// change to the format, which would invalidate every issued token, fails here.
	token := seal(t, newTestSealer(t, testSecret), testPayload())
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	require.Equal(t, byte(0x02), raw[0], "version")

	key := make([]byte, 32)
	_, err = io.ReadFull(hkdf.New(sha256.New, testSecret, nil, []byte("caddy-oauth2 refresh token v2")), key)
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	plaintext, err := gcm.Open(nil, raw[1:13], raw[13:], []byte{0x02})
	require.NoError(t, err)
	want := "\x00\x00\x00\x00\x65\x7b\x7e\x00" + // expiry 1702592000, big-endian int64
		"\x07rt-7f3a" + "\x08fam-19c2" + "\x03web" + "\x06u-1001" +
		"\x02" + "\x04read" + "\x05write"
	assert.Equal(t, want, string(plaintext))
}

func TestSealer_SealsDifferEachTime(t *testing.T) {
	s := newTestSealer(t, testSecret)
	a, b := seal(t, s, testPayload()), seal(t, s, testPayload())
	assert.NotEqual(t, a, b, "a fresh random nonce per seal")
	for _, token := range []string{a, b} {
		_, err := s.Open(token)
		assert.NoError(t, err)
	}
}

func TestSealer_EveryByteFlipFails(t *testing.T) {
	s := newTestSealer(t, testSecret)
	raw, err := base64.RawURLEncoding.DecodeString(seal(t, s, testPayload()))
	require.NoError(t, err)
	for i := range raw {
		for bit := range 8 {
			flipped := append([]byte(nil), raw...)
			flipped[i] ^= 1 << bit
			p, err := s.Open(base64.RawURLEncoding.EncodeToString(flipped))
			require.ErrorIs(t, err, ErrInvalidToken, "byte %d bit %d", i, bit)
			require.Nil(t, p)
		}
	}
}

func TestSealer_EveryCharacterChangeFails(t *testing.T) {
	// Changes the encoded string rather than the bytes: the last character also
	// carries padding bits, which must not be ignored.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	s := newTestSealer(t, testSecret)
	token := seal(t, s, testPayload())
	for i := range len(token) {
		for _, c := range []byte(alphabet) {
			if c == token[i] {
				continue
			}
			changed := token[:i] + string(c) + token[i+1:]
			_, err := s.Open(changed)
			require.ErrorIs(t, err, ErrInvalidToken, "position %d to %q", i, c)
		}
	}
}

func TestSealer_RejectsMalformedTokens(t *testing.T) {
	s := newTestSealer(t, testSecret)
	const expiry = "\x00\x00\x00\x00\x65\x7b\x7e\x00"
	token := seal(t, s, testPayload())
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	version1 := append([]byte{0x01}, raw[1:]...)

	tests := map[string]string{
		"empty":                       "",
		"one character":               "A",
		"shorter than nonce and tag":  token[:minTokenLen-1],
		"minimum length":              token[:minTokenLen],
		"truncated by one":            token[:len(token)-1],
		"truncated to half":           token[:len(token)/2],
		"extended":                    token + "A",
		"doubled":                     token + token,
		"oversized":                   strings.Repeat("A", maxTokenLen+1),
		"oversized garbage":           strings.Repeat("%", 1<<20),
		"not base64":                  strings.Repeat("!", 64),
		"standard alphabet":           strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+/",
		"with padding":                token + "==",
		"with newline":                token[:10] + "\n" + token[10:],
		"with space":                  token[:10] + " " + token[10:],
		"version 1":                   base64.RawURLEncoding.EncodeToString(version1),
		"only zeros":                  strings.Repeat("A", 200),
		"looks like a JWT":            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
		"sealed without id":           sealRaw(t, s, expiry+"\x00\x03fam\x03web\x00\x00"),
		"sealed without family":       sealRaw(t, s, expiry+"\x02id\x00\x03web\x00\x00"),
		"sealed without client":       sealRaw(t, s, expiry+"\x02id\x03fam\x00\x00\x00"),
		"sealed without scope count":  sealRaw(t, s, expiry+"\x02id\x03fam\x03web\x00"),
		"sealed with a trailing byte": sealRaw(t, s, expiry+"\x02id\x03fam\x03web\x00\x00\x00"),
		"sealed string past the end":  sealRaw(t, s, expiry+"\x02id\x03fam\x09web\x00\x00"),
		"sealed scopes past the end":  sealRaw(t, s, expiry+"\x02id\x03fam\x03web\x00\x03\x01a"),
		"sealed huge scope count":     sealRaw(t, s, expiry+"\x02id\x03fam\x03web\x00\xff\xff\xff\xff\x0f"),
		"sealed overlong varint":      sealRaw(t, s, expiry+"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
		"sealed padded varint":        sealRaw(t, s, expiry+"\x82\x00id\x03fam\x03web\x00\x00"),
		"sealed short expiry":         sealRaw(t, s, "\x00\x00\x00"),
		"sealed JSON":                 sealRaw(t, s, `{"i":"id","f":"fam","c":"web","e":1}`),
		"sealed empty plaintext":      sealRaw(t, s, ``),
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := s.Open(bad)
			require.ErrorIs(t, err, ErrInvalidToken)
			assert.Nil(t, p)
			if len(bad) >= 8 {
				assert.NotContains(t, err.Error(), bad[:8], "the token must not leak into the error")
			}
		})
	}
}

// sealRaw seals an arbitrary plaintext in the current format, to reach the checks
// that come after authentication.
func sealRaw(tb testing.TB, s *Sealer, plaintext string) string {
	tb.Helper()
	raw := s.aead.Seal([]byte{refreshVersion}, nil, []byte(plaintext), refreshAD)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestSealer_TokenOfAnotherSecretFails(t *testing.T) {
	token := seal(t, newTestSealer(t, testSecret), testPayload())
	other := newTestSealer(t, []byte("fedcba9876543210fedcba9876543210"))
	_, err := other.Open(token)
	assert.ErrorIs(t, err, ErrInvalidToken)
}

func TestNewSealer_RequiresSecretOf32Bytes(t *testing.T) {
	tests := []struct {
		secret  string
		wantErr bool
	}{
		{"", true},
		{"short-secret", true},
		{strings.Repeat("k", 31), true},
		{strings.Repeat("k", 32), false},
		{strings.Repeat("k", 100), false},
	}
	for _, tt := range tests {
		s, err := NewSealer([]byte(tt.secret))
		if !tt.wantErr {
			assert.NoError(t, err, "%d bytes", len(tt.secret))
			continue
		}
		assert.Nil(t, s)
		require.ErrorContains(t, err, "must be at least 32 bytes", "%d bytes", len(tt.secret))
		if tt.secret != "" {
			assert.NotContains(t, err.Error(), tt.secret)
		}
	}
}

func TestNewSealer_AcceptsLeagueKeyAsRawBytes(t *testing.T) {
	s := newTestSealer(t, []byte(leagueKey))
	token := seal(t, s, testPayload())
	got, err := s.Open(token)
	require.NoError(t, err)
	assert.Equal(t, testPayload(), *got)

	// The key is the string itself, not its base64 decoding (which is also long
	// enough, so a sealer built from it would be accepted but different).
	decoded, err := base64.StdEncoding.DecodeString(leagueKey)
	require.NoError(t, err)
	_, err = newTestSealer(t, decoded).Open(token)
	assert.ErrorIs(t, err, ErrInvalidToken)
}

func TestSealer_SealRejectsIncompletePayload(t *testing.T) {
	s := newTestSealer(t, testSecret)
	tests := map[string]func(*RefreshPayload){
		"no id":        func(p *RefreshPayload) { p.ID = "" },
		"no family id": func(p *RefreshPayload) { p.FamilyID = "" },
		"no client id": func(p *RefreshPayload) { p.ClientID = "" },
	}
	for name, modify := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPayload()
			modify(&p)
			_, err := s.Seal(p)
			assert.Error(t, err)
		})
	}
}

func TestSealer_SealRejectsPayloadTooLargeToOpen(t *testing.T) {
	s := newTestSealer(t, testSecret)
	p := testPayload()
	p.Scopes = strings.Fields(strings.Repeat("some-long-scope-name ", 200))
	_, err := s.Seal(p)
	assert.ErrorContains(t, err, "too large")
}

func BenchmarkSeal(b *testing.B) {
	s := newTestSealer(b, testSecret)
	p := testPayload()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newTestSealer(b, testSecret)
	token := seal(b, s, testPayload())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(token); err != nil {
			b.Fatal(err)
		}
	}
}
