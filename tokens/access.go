package tokens

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// accessTokenType is the JOSE typ of an access token (RFC 9068 §2.1); a resource
// server checks it so that an ID token or another JWT signed with the same key
// cannot pass for an access token.
const accessTokenType = "at+jwt"

var (
	errNotAccessToken = errors.New(`typ is not "at+jwt"`)
	errExpiryOrder    = errors.New("access token expiry must be after its issue time")
)

// AccessClaims are the claims of an access token (RFC 9068 §2.2).
type AccessClaims struct {
	// Issuer is iss: the authorization server's URL.
	Issuer string
	// Subject is sub: the user id, or the client id when no user is involved.
	Subject string
	// Audience is aud. With one element it is encoded as a JSON string, which
	// every resource server accepts; with more, as an array.
	Audience []string
	// ClientID is client_id: the client the token was issued to.
	ClientID string
	// Scopes are encoded as the space-separated scope claim, which is always
	// present (possibly "") so resource servers need not tell "absent" from "none".
	Scopes []string
	// IssuedAt is iat, and Mint writes it as nbf as well; both are whole
	// seconds.
	IssuedAt time.Time
	// NotBefore is the nbf a verified token carries (zero if none). Mint
	// ignores it: a token it makes is valid from IssuedAt.
	NotBefore time.Time
	// Expiry is exp, in whole seconds.
	Expiry time.Time
	// ID is jti: the token id under which the token store records the token.
	ID string
}

// accessJSON is the wire form of AccessClaims, into which Verify decodes. Mint
// writes the same form by hand (appendClaims), and json.Marshal of accessJSON is
// the reference its tests compare against. The claim order is fixed; the
// NumericDates are integers because some resource servers reject fractional
// seconds.
type accessJSON struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud,omitempty"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	ID        string   `json:"jti"`
}

// Scratch sizes for Mint. Typical claims encode to 250 bytes and an ES256
// token to 550 (RS256 with a 4096-bit key: 1,100); larger ones still work, they
// only move to the heap.
const (
	claimsScratch = 768
	tokenScratch  = 1536
)

// Mint signs an access token carrying c. The header is {alg, typ "at+jwt", kid}.
func (s *Signer) Mint(c AccessClaims) (string, error) {
	iat, exp := c.IssuedAt.Unix(), c.Expiry.Unix()
	if exp <= iat {
		return "", errExpiryOrder
	}
	// Both buffers live on the stack, so the token string is the only allocation
	// besides what the signature algorithm makes; the header segment was encoded
	// once by NewSigner.
	var claimsBuf [claimsScratch]byte
	payload := appendClaims(claimsBuf[:0], &c, iat, exp)
	var tokenBuf [tokenScratch]byte
	token := append(tokenBuf[:0], s.header...)
	token = append(token, '.')
	token = base64.RawURLEncoding.AppendEncode(token, payload)
	token, err := s.appendSignature(token, token)
	if err != nil {
		return "", err
	}
	return string(token), nil
}

// appendClaims appends the JSON of c to dst exactly as json.Marshal writes
// accessJSON, without its reflection and allocations:
// TestAppendClaims_MatchesEncodingJSON holds the two equal.
func appendClaims(dst []byte, c *AccessClaims, iat, exp int64) []byte {
	dst = append(dst, '{')
	if c.Issuer != "" {
		dst = append(dst, `"iss":`...)
		dst = appendJSONString(dst, c.Issuer)
		dst = append(dst, ',')
	}
	dst = append(dst, `"sub":`...)
	dst = appendJSONString(dst, c.Subject)
	switch len(c.Audience) {
	case 0:
	case 1:
		dst = append(dst, `,"aud":`...)
		dst = appendJSONString(dst, c.Audience[0])
	default:
		dst = append(dst, `,"aud":[`...)
		for i, aud := range c.Audience {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, aud)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"client_id":`...)
	dst = appendJSONString(dst, c.ClientID)
	dst = append(dst, `,"scope":"`...)
	for i, scope := range c.Scopes {
		if i > 0 {
			dst = append(dst, ' ')
		}
		// Escaping scope by scope writes what escaping strings.Join(c.Scopes, " ")
		// would, without the joined copy.
		dst = appendJSONEscaped(dst, scope)
	}
	dst = append(dst, `","iat":`...)
	dst = strconv.AppendInt(dst, iat, 10)
	dst = append(dst, `,"nbf":`...)
	dst = strconv.AppendInt(dst, iat, 10)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, exp, 10)
	dst = append(dst, `,"jti":`...)
	dst = appendJSONString(dst, c.ID)
	return append(dst, '}')
}

// The jwt.Claims methods let the jwt parser validate exp and nbf on accessJSON.

func (c *accessJSON) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.Expiry), nil }
func (c *accessJSON) GetNotBefore() (*jwt.NumericDate, error)      { return numericDate(c.NotBefore), nil }
func (c *accessJSON) GetIssuedAt() (*jwt.NumericDate, error)       { return numericDate(c.IssuedAt), nil }
func (c *accessJSON) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *accessJSON) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *accessJSON) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

// numericDate maps an absent (zero) claim to nil, which the parser treats as missing.
func numericDate(sec int64) *jwt.NumericDate {
	if sec == 0 {
		return nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0))
}

// Audience is the aud claim. RFC 7519 §4.1.3 allows a single string or an
// array; a single audience is written as a string because that is what most
// resource servers expect (and what league writes), while reading accepts both.
type Audience []string

// MarshalJSON writes one audience as a string and several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// Interface guard: the parser validates accessJSON's registered claims.
var _ jwt.Claims = (*accessJSON)(nil)
