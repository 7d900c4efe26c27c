package tokens

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		sealRaw(f, s, `{}`), sealRaw(f, s, `null`), sealRaw(f, s, `{"i":"x","f":"y","c":"z","s":null,"e":-1}`),
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
