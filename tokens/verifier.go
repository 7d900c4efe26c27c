package tokens

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks access tokens against one public key: the signing key's, a
// key of the rotating key set that signed before or will sign next, or one
// the operator publishes for verification only. Everything that depends only
// on the key is computed once by NewVerifier. A Verifier is safe for
// concurrent use.
type Verifier struct {
	public  crypto.PublicKey
	alg     string
	methods []string // the one algorithm the key verifies: no alg confusion
	kid     string
	jwk     json.RawMessage
}

// NewVerifier prepares pub for verifying access tokens and for publishing in
// a key set: RSA (at least 2048 bits) verifies RS256, EC P-256 ES256 and
// Ed25519 EdDSA.
func NewVerifier(pub crypto.PublicKey) (*Verifier, error) {
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, err
	}
	members, err := publicMembers(pub)
	if err != nil {
		return nil, err
	}
	kid, err := thumbprint(pub)
	if err != nil {
		return nil, err
	}
	members["kid"], members["alg"], members["use"] = kid, alg, "sig"
	jwk, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("encoding JWK: %w", err)
	}
	return &Verifier{public: pub, alg: alg, methods: []string{alg}, kid: kid, jwk: jwk}, nil
}

// Algorithm returns the JWS algorithm of the key's tokens, "RS256", "ES256"
// or "EdDSA", as a key set announces it.
func (v *Verifier) Algorithm() string { return v.alg }

// KeyID returns the kid of the key's tokens: the RFC 7638 thumbprint of the
// public key, so that it is stable across restarts and instances sharing the
// key and changes exactly when the key does.
func (v *Verifier) KeyID() string { return v.kid }

// PublicKey returns the key that verifies the tokens.
func (v *Verifier) PublicKey() crypto.PublicKey { return v.public }

// JWK returns the key as a public JWK (RFC 7517) with kid, alg and use
// "sig": the entry a key set publishes. It holds no private member whatever
// key it was made from, because it is built from the public key alone. The
// caller must not modify it.
func (v *Verifier) JWK() json.RawMessage { return v.jwk }

// Verify checks that token is an access token signed by this key and valid
// at now, and returns its claims; see VerifyAccessToken.
func (v *Verifier) Verify(token string, now time.Time) (*AccessClaims, error) {
	return VerifyAccessToken(token, now, func(kid string) *Verifier {
		if kid == v.kid {
			return v
		}
		return nil
	})
}

// KeyLookup returns the verifier of the published key with this kid, or nil
// when no published key has it.
type KeyLookup func(kid string) *Verifier

var (
	// errUnknownKeyID is a token whose kid names no published key.
	errUnknownKeyID = errors.New("kid names no published key")
	// errWrongAlgorithm is a token whose alg is not the one its key is used
	// with: an RS256 key never verifies an EdDSA claim.
	errWrongAlgorithm = errors.New("alg is not the algorithm of the key its kid names")
)

// VerifyAccessToken checks that token is an access token signed by the key
// its kid names and valid at now, and returns its claims. The algorithm is
// pinned to that key's (so neither "none" nor HS256 keyed with the public key
// can pass), typ must be at+jwt, and exp is required. Issuer and audience are
// left to the caller.
func VerifyAccessToken(token string, now time.Time, keys KeyLookup) (*AccessClaims, error) {
	var key *Verifier
	parser := jwt.NewParser(
		jwt.WithValidMethods(allAlgorithms),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	)
	var c accessJSON
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// RFC 9068 §4 also allows the full media type; media types are
		// case-insensitive.
		typ, _ := t.Header["typ"].(string)
		if !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
			return nil, errNotAccessToken
		}
		kid, _ := t.Header["kid"].(string)
		if key = keys(kid); key == nil {
			return nil, errUnknownKeyID
		}
		if t.Method.Alg() != key.alg {
			return nil, errWrongAlgorithm
		}
		return key.public, nil
	})
	if err != nil {
		return nil, fmt.Errorf("verifying access token: %w", err)
	}
	claims := &AccessClaims{
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		ClientID: c.ClientID,
		IssuedAt: time.Unix(c.IssuedAt, 0).UTC(),
		Expiry:   time.Unix(c.Expiry, 0).UTC(),
		ID:       c.ID,
	}
	if c.NotBefore != 0 {
		claims.NotBefore = time.Unix(c.NotBefore, 0).UTC()
	}
	if len(c.Audience) > 0 {
		claims.Audience = c.Audience
	}
	if c.Scope != "" {
		claims.Scopes = strings.Fields(c.Scope)
	}
	return claims, nil
}

// allAlgorithms are the algorithms any key verifies; each key then accepts
// only its own.
var allAlgorithms = []string{"RS256", "ES256", "EdDSA"}
