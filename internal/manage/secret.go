package manage

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// secretBytes is the entropy of a generated client secret: 256 bits, far past
// guessing, as RFC 6749 §10.10 asks of generated credentials.
const secretBytes = 32

// newClientSecret returns a fresh client secret: 32 random bytes in base64url
// without padding, 43 characters. That alphabet is the unreserved characters
// of RFC 3986, which form-encoding leaves alone, so every client library's
// way of building HTTP Basic credentials (RFC 6749 §2.3.1 form-encodes them
// first; many libraries do not) yields the same secret.
func newClientSecret() string {
	b := make([]byte, secretBytes)
	// crypto/rand.Read never fails: since Go 1.24 it crashes the program instead.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUserID returns a fresh user id, a random (version 4) UUID as RFC 9562
// lays it out. A user id becomes the sub claim of access tokens, which
// resource servers key their data on: it must never change or be reused, so
// it is random rather than a counter or the username (which may change), and
// a UUID fits the uuid columns and validators that resource servers
// commonly use for sub.
func newUserID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
