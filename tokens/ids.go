package tokens

import (
	"crypto/rand"
	"encoding/base64"
)

// NewID returns a fresh identifier for a token, a token family or any other
// record: 256 bits from crypto/rand, base64url without padding (43 characters).
// That many bits make ids unguessable, so one can never be derived from another.
func NewID() string {
	var b [32]byte
	// crypto/rand.Read never fails: since Go 1.24 it crashes the program instead.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
