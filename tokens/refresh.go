package tokens

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidToken is returned by Open for every refresh token it does not
// accept: garbage, truncated, tampered, sealed with another key, or too long.
// The grant answers all of them with invalid_grant, so they share one error;
// the wrapped detail is for the log and never contains the token.
var ErrInvalidToken = errors.New("invalid token")

// Refresh token format, version 2:
//
//	base64url-nopad( 0x02 || nonce[12] || AES-256-GCM(payload, ad = 0x02) )
//
// The version byte is authenticated, so a token cannot be replayed under a
// later format. The payload is binary (see appendPayload): a token travels in
// every refresh request and is opened by every one, and JSON made it longer
// and cost more than the AES-GCM that protects it. Version 1 held JSON; no
// release issued it.
const (
	refreshVersion byte = 0x02
	// refreshInfo binds the derived key to this purpose and format version, so
	// the same operator secret can never produce the same key elsewhere.
	refreshInfo = "caddy-oauth2 refresh token v2"
	// maxTokenLen bounds the work Open does for a request: longer input is
	// rejected before decoding. Seal never produces a longer token.
	maxTokenLen = 4096
	// gcmOverhead is what NewGCMWithRandomNonce adds: a 12-byte nonce and a
	// 16-byte tag.
	gcmOverhead = 12 + 16
)

// minTokenLen is the encoded length of a token with an empty ciphertext; no
// valid token is shorter.
var minTokenLen = base64.RawURLEncoding.EncodedLen(1 + gcmOverhead)

// refreshAD is the additional data of the seal: the version byte.
var refreshAD = []byte{refreshVersion}

// strictB64 rejects non-zero trailing bits, so that each token has exactly one
// encoding and a flipped last character cannot decode to the same bytes.
var strictB64 = base64.RawURLEncoding.Strict()

// Reasons Open rejects a token, prebuilt so that rejecting garbage allocates
// nothing. Each wraps ErrInvalidToken.
var (
	errTokenLength   = fmt.Errorf("%w: bad length", ErrInvalidToken)
	errTokenEncoding = fmt.Errorf("%w: not base64url", ErrInvalidToken)
	errTokenVersion  = fmt.Errorf("%w: unknown version", ErrInvalidToken)
	errTokenAuth     = fmt.Errorf("%w: authentication failed", ErrInvalidToken)
	errTokenPayload  = fmt.Errorf("%w: malformed payload", ErrInvalidToken)
)

// RefreshPayload is what a refresh token carries. Sealing it into the token lets
// the grant reject a forged or foreign token without a database lookup, and
// tells it which row to look up otherwise.
type RefreshPayload struct {
	// ID is the token's own id, its row in the token store.
	ID string
	// FamilyID is the id of the original grant; a replay revokes the whole family.
	FamilyID string
	// ClientID is the client the token was issued to.
	ClientID string
	// UserID is the resource owner, empty for a token without a user.
	UserID string
	// Scopes are the scopes granted; a refresh may narrow but never widen them.
	Scopes []string
	// ExpiresAt is the expiry, kept to whole seconds.
	ExpiresAt time.Time
}

// Sealer seals refresh-token payloads into opaque tokens and opens them again.
// The AEAD is built once by NewSealer; a Sealer is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// MinEncryptionKeyLength is the shortest accepted encryption key, in bytes:
// 256 bits, which base64_encode(random_bytes(32)), league's documented recipe,
// exceeds.
const MinEncryptionKeyLength = 32

// CheckEncryptionKey refuses a secret too short to seal refresh tokens with.
// The message gives the length, never the secret.
func CheckEncryptionKey(secret []byte) error {
	if len(secret) < MinEncryptionKeyLength {
		return fmt.Errorf("must be at least %d bytes, got %d (make one with: openssl rand -base64 32)",
			MinEncryptionKeyLength, len(secret))
	}
	return nil
}

// NewSealer derives the refresh-token key from the operator's secret with
// HKDF-SHA256. The secret is any string of at least 32 bytes and is used as
// given, not base64-decoded, so a key written for league
// (base64_encode(random_bytes(32))) works unchanged.
func NewSealer(secret []byte) (*Sealer, error) {
	if err := CheckEncryptionKey(secret); err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, secret, nil, refreshInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("deriving refresh token key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating refresh token cipher: %w", err)
	}
	// Random 96-bit nonces are safe for 2^32 seals per key, far beyond the
	// refresh tokens one deployment issues before rotating encryption_key.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("creating refresh token cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts and authenticates p into a URL-safe token. ID, FamilyID and
// ClientID are required, because Open rejects a payload without them.
func (s *Sealer) Seal(p RefreshPayload) (string, error) {
	if p.ID == "" || p.FamilyID == "" || p.ClientID == "" {
		return "", errors.New("refresh token payload needs an id, a family id and a client id")
	}
	// 256 bytes hold a payload of production-shaped ids in one allocation.
	plaintext := appendPayload(make([]byte, 0, 256), &p)
	raw := make([]byte, 1, 1+gcmOverhead+len(plaintext))
	raw[0] = refreshVersion
	raw = s.aead.Seal(raw, nil, plaintext, refreshAD)
	if strictB64.EncodedLen(len(raw)) > maxTokenLen {
		return "", fmt.Errorf("refresh token payload too large (%d bytes)", len(plaintext))
	}
	return strictB64.EncodeToString(raw), nil
}

// Open authenticates and decrypts a token made by Seal. Every check happens here,
// before the caller touches the database; any failure is ErrInvalidToken.
// Open does not check expiry: the caller has the clock.
func (s *Sealer) Open(token string) (*RefreshPayload, error) {
	if len(token) < minTokenLen || len(token) > maxTokenLen {
		return nil, errTokenLength
	}
	// The decoder skips CR and LF; checking the alphabet first keeps the
	// encoding canonical, one token string per sealed value.
	for i := 0; i < len(token); i++ {
		if !isBase64URL(token[i]) {
			return nil, errTokenEncoding
		}
	}
	raw, err := strictB64.DecodeString(token)
	if err != nil {
		return nil, errTokenEncoding
	}
	if raw[0] != refreshVersion {
		return nil, errTokenVersion
	}
	plaintext, err := s.aead.Open(nil, nil, raw[1:], refreshAD)
	if err != nil {
		return nil, errTokenAuth
	}
	p, ok := parsePayload(plaintext)
	if !ok || p.ID == "" || p.FamilyID == "" || p.ClientID == "" {
		return nil, errTokenPayload
	}
	return p, nil
}

// appendPayload appends the binary form of p: the expiry in unix seconds as a
// big-endian int64, then ID, FamilyID, ClientID and UserID, then the number of
// scopes and each scope; every string is its length as a uvarint and its bytes.
func appendPayload(b []byte, p *RefreshPayload) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(p.ExpiresAt.Unix()))
	for _, s := range [...]string{p.ID, p.FamilyID, p.ClientID, p.UserID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Scopes)))
	for _, s := range p.Scopes {
		b = appendString(b, s)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// parsePayload reverses appendPayload. Only a payload that authenticated
// reaches it, so a malformed one means a bug or a leaked key, not an attacker
// probing; it is still parsed with every bound checked, and padded varints and
// trailing bytes are refused so that one payload has one encoding.
func parsePayload(b []byte) (*RefreshPayload, bool) {
	if len(b) < 8 {
		return nil, false
	}
	p := &RefreshPayload{ExpiresAt: time.Unix(int64(binary.BigEndian.Uint64(b)), 0).UTC()}
	b = b[8:]
	var ok bool
	for _, dst := range [...]*string{&p.ID, &p.FamilyID, &p.ClientID, &p.UserID} {
		if *dst, b, ok = parseString(b); !ok {
			return nil, false
		}
	}
	n, size := uvarint(b)
	// Each scope takes at least its length byte, which bounds n before it
	// sizes an allocation.
	if size <= 0 || n > uint64(len(b)-size) {
		return nil, false
	}
	b = b[size:]
	if n > 0 {
		p.Scopes = make([]string, n)
		for i := range p.Scopes {
			if p.Scopes[i], b, ok = parseString(b); !ok {
				return nil, false
			}
		}
	}
	if len(b) != 0 {
		return nil, false
	}
	return p, true
}

// parseString reads one length-prefixed string off the front of b.
func parseString(b []byte) (string, []byte, bool) {
	n, size := uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return "", nil, false
	}
	end := size + int(n)
	return string(b[size:end]), b[end:], true
}

// isBase64URL reports whether c is in the base64url alphabet (RFC 4648 §5).
func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// uvarint is binary.Uvarint refusing padded encodings (such as 0x81 0x00 for
// 1), which AppendUvarint never writes: size is 0 for those.
func uvarint(b []byte) (uint64, int) {
	n, size := binary.Uvarint(b)
	if size > 1 && b[size-1] == 0 {
		return 0, 0
	}
	return n, size
}
