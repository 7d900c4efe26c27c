package tokens

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// IDLength is the length of the identifiers NewID returns.
const IDLength = 12 + 35

// NewID returns a fresh identifier for a token, a token family or any other
// record: the creation time in milliseconds as 12 hex digits, then 208 bits
// from crypto/rand in base64url without padding (47 characters in all).
//
// The random part makes ids unguessable (RFC 6749 §10.10 asks for at most
// 2^-128 odds, RFC 6819 §5.1.4.2.2 suggests 160 bits). The time prefix makes
// ids sort by creation, so a database inserts each new row at the right edge
// of its index instead of at a random page: a rotation then dirties, and
// commits, a handful of pages that concurrent rotations share, rather than one
// random page per index per token. The time is no secret: the JWT's iat says
// it, and refresh-token ids travel only inside the sealed token.
func NewID() string {
	var b [8 + 26]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli()))
	// crypto/rand.Read never fails: since Go 1.24 it crashes the program instead.
	_, _ = rand.Read(b[8:])
	out := make([]byte, IDLength)
	hex.Encode(out[:12], b[2:8])
	base64.RawURLEncoding.Encode(out[12:], b[8:])
	return string(out)
}
