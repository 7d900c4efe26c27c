package tokens

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixturePassphrase encrypts the *_encrypted.pem fixtures (see testdata/generate.sh).
const (
	fixturePassphrase = "fixture-passphrase-7Qx"
	wrongPassphrase   = "wrong-passphrase-9Zk"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	return data
}

func loadKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	key, err := ParsePrivateKey(readFixture(tb, name), []byte(fixturePassphrase))
	require.NoError(tb, err)
	return key
}

func TestParsePrivateKey_ReadsEveryFormat(t *testing.T) {
	tests := []struct {
		file       string
		passphrase string
		want       any
	}{
		{"rsa_pkcs1.pem", "", &rsa.PrivateKey{}},
		{"rsa_pkcs8.pem", "", &rsa.PrivateKey{}},
		{"rsa_pkcs1_encrypted.pem", fixturePassphrase, &rsa.PrivateKey{}},
		{"rsa_pkcs8_encrypted.pem", fixturePassphrase, &rsa.PrivateKey{}},
		{"ec_sec1.pem", "", &ecdsa.PrivateKey{}},
		{"ec_sec1_with_params.pem", "", &ecdsa.PrivateKey{}},
		{"ec_sec1_encrypted.pem", fixturePassphrase, &ecdsa.PrivateKey{}},
		{"ec_pkcs8.pem", "", &ecdsa.PrivateKey{}},
		{"ec_pkcs8_encrypted.pem", fixturePassphrase, &ecdsa.PrivateKey{}},
		{"ed25519_pkcs8.pem", "", ed25519.PrivateKey{}},
		{"ed25519_pkcs8_encrypted.pem", fixturePassphrase, ed25519.PrivateKey{}},
		// A passphrase for a key that is not encrypted is ignored.
		{"ec_pkcs8.pem", fixturePassphrase, &ecdsa.PrivateKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			key, err := ParsePrivateKey(readFixture(t, tt.file), []byte(tt.passphrase))
			require.NoError(t, err)
			assert.IsType(t, tt.want, key)
		})
	}
}

func TestParsePrivateKey_FormatsOfOneKeyAgree(t *testing.T) {
	// generate.sh derives these files from rsa_pkcs1.pem and ec_sec1.pem.
	groups := [][]string{
		{"rsa_pkcs1.pem", "rsa_pkcs8.pem"},
		{"ec_sec1.pem", "ec_sec1_encrypted.pem", "ec_pkcs8.pem"},
	}
	for _, files := range groups {
		want := loadKey(t, files[0]).Public()
		for _, file := range files[1:] {
			assert.True(t, loadKey(t, file).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want), file)
		}
	}
}

func TestParsePrivateKey_FindsKeyNextToCertificate(t *testing.T) {
	bundle := append(readFixture(t, "certificate.pem"), readFixture(t, "ec_sec1.pem")...)
	key, err := ParsePrivateKey(bundle, nil)
	require.NoError(t, err)
	assert.True(t, key.Public().(*ecdsa.PublicKey).Equal(loadKey(t, "ec_sec1.pem").Public()))
}

func TestParsePrivateKey_Errors(t *testing.T) {
	type errCase struct {
		name       string
		data       []byte
		passphrase string
		wantErr    string
	}
	twoKeys := append(readFixture(t, "ec_sec1.pem"), readFixture(t, "ec_pkcs8.pem")...)
	tests := []errCase{
		{"empty input", nil, "", "no PEM block"},
		{"garbage", []byte("this is not a key"), "", "no PEM block"},
		{"DER instead of PEM", []byte{0x30, 0x82, 0x01, 0x0a, 0x02}, "", "no PEM block"},
		{"PEM with garbage body", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "", "parsing private key"},
		{"unknown block type", []byte("-----BEGIN SOMETHING-----\nAAAA\n-----END SOMETHING-----\n"), "", `unsupported PEM block "SOMETHING"`},
		{"public key", readFixture(t, "ec_public.pem"), "", "found a public key, not a private key"},
		{"certificate", readFixture(t, "certificate.pem"), "", "found a certificate, not a private key"},
		{"two keys", twoKeys, "", "more than one private key"},
		{"P-384 key", readFixture(t, "ec_p384.pem"), "", "unsupported EC curve P-384"},
		{"RSA 1024", readFixture(t, "rsa_1024.pem"), "", "RSA key has 1024 bits, need at least 2048"},
		{"Ed448 key", readFixture(t, "ed448_pkcs8.pem"), "", "parsing private key"},
		{"PBES1 encryption", readFixture(t, "ec_pkcs8_pbes1.pem"), fixturePassphrase, "decrypting private key (supported: PBES2 PKCS#8, legacy PEM encryption)"},
	}
	for _, file := range []string{
		"rsa_pkcs1_encrypted.pem", "rsa_pkcs8_encrypted.pem", "ec_sec1_encrypted.pem",
		"ec_pkcs8_encrypted.pem", "ed25519_pkcs8_encrypted.pem",
	} {
		tests = append(tests,
			errCase{file + " without passphrase", readFixture(t, file), "", "key is encrypted: a passphrase is needed"},
			errCase{file + " with wrong passphrase", readFixture(t, file), wrongPassphrase, "wrong passphrase or corrupt key"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParsePrivateKey(tt.data, []byte(tt.passphrase))
			require.Error(t, err)
			assert.Nil(t, key)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), fixturePassphrase)
			assert.NotContains(t, err.Error(), wrongPassphrase)
		})
	}
}

// encryptedPKCS8 mirrors the ASN.1 of an encrypted PKCS#8 key (RFC 8018 PBES2)
// so that a test can build malformed ones.
type encryptedPKCS8 struct {
	Algo struct {
		OID    asn1.ObjectIdentifier
		Params struct {
			KDF struct {
				OID    asn1.ObjectIdentifier
				Params struct {
					Salt []byte
					Iter int
					PRF  pkix.AlgorithmIdentifier
				}
			}
			Enc struct {
				OID asn1.ObjectIdentifier
				IV  []byte
			}
		}
	}
	Data []byte
}

func malformedEncryptedPKCS8(tb testing.TB, ivLen, dataLen int) []byte {
	tb.Helper()
	var k encryptedPKCS8
	k.Algo.OID = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}                         // PBES2
	k.Algo.Params.KDF.OID = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}              // PBKDF2
	k.Algo.Params.KDF.Params.PRF.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9} // HMAC-SHA256
	k.Algo.Params.KDF.Params.PRF.Parameters = asn1.NullRawValue
	k.Algo.Params.KDF.Params.Salt = []byte("saltsalt")
	k.Algo.Params.KDF.Params.Iter = 1
	k.Algo.Params.Enc.OID = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42} // AES-256-CBC
	k.Algo.Params.Enc.IV = make([]byte, ivLen)
	k.Data = make([]byte, dataLen)
	der, err := asn1.Marshal(k)
	require.NoError(tb, err)
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func TestParsePrivateKey_MalformedEncryptedKeyIsAnErrorNotAPanic(t *testing.T) {
	// pemutil hands these to crypto/cipher unchecked, which panics.
	tests := []struct {
		name           string
		ivLen, dataLen int
	}{
		{"IV too short", 3, 32},
		{"ciphertext not whole blocks", 16, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := malformedEncryptedPKCS8(t, tt.ivLen, tt.dataLen)
			_, err := ParsePrivateKey(data, []byte(fixturePassphrase))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), fixturePassphrase)
		})
	}
}

func TestGenerateKey_IsP256AndRoundTrips(t *testing.T) {
	key, err := GenerateKey()
	require.NoError(t, err)
	require.IsType(t, &ecdsa.PrivateKey{}, key)
	assert.Equal(t, elliptic.P256(), key.(*ecdsa.PrivateKey).Curve)

	pemData, err := MarshalPrivateKey(key)
	require.NoError(t, err)
	block, _ := pem.Decode(pemData)
	require.NotNil(t, block)
	assert.Equal(t, "PRIVATE KEY", block.Type)

	back, err := ParsePrivateKey(pemData, nil)
	require.NoError(t, err)
	assert.True(t, key.(*ecdsa.PrivateKey).Equal(back))
}

func TestMarshalPrivateKey_RoundTripsEveryKeyType(t *testing.T) {
	for _, file := range []string{"rsa_pkcs1.pem", "ec_sec1.pem", "ed25519_pkcs8.pem"} {
		t.Run(file, func(t *testing.T) {
			key := loadKey(t, file)
			pemData, err := MarshalPrivateKey(key)
			require.NoError(t, err)
			back, err := ParsePrivateKey(pemData, nil)
			require.NoError(t, err)
			assert.True(t, key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(back))
		})
	}
}

func TestMarshalPrivateKey_RejectsUnsupportedKey(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = MarshalPrivateKey(p384)
	assert.ErrorContains(t, err, "unsupported EC curve P-384")
}
