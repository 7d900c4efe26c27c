package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accessTokenType is the typ header of RFC 9068 access tokens, which every
// verifier checks so that no other JWT of the issuer passes for one.
const accessTokenType = "at+jwt"

// A verifier checks access tokens the way a resource server set up with one
// third-party library does, knowing only the JWKS URL of the issuer.
type verifier interface {
	name() string
	// ready skips or fails t if the verifier cannot run on this machine.
	ready(t *testing.T)
	// verify returns the claims of token if it accepts it under want.
	verify(ctx context.Context, token string, want expectation) (map[string]any, error)
	// refusal tells why verify refused a token, so that a test can tell a
	// refusal for the reason it provoked from one for any other.
	refusal(err error) refusal
}

// expectation is what a resource server requires of a token besides a good
// signature by a published key.
type expectation struct {
	issuer, audience string
	// alg is the one algorithm accepted, where the library asks for it.
	alg string
}

// refusal is why a verifier refused a token.
type refusal string

const (
	badSignature  refusal = "bad signature"
	wrongIssuer   refusal = "wrong issuer"
	wrongAudience refusal = "wrong audience"
	unknownKey    refusal = "unknown key"
	otherRefusal  refusal = "other"
)

// requireAccepted checks that v accepts token under want, with the claims of
// a token svc got.
func requireAccepted(t *testing.T, v verifier, token string, want expectation) {
	t.Helper()
	claims, err := v.verify(t.Context(), token, want)
	require.NoError(t, err, "%s refused a good token", v.name())
	assert.Equal(t, want.issuer, claims["iss"])
	assert.Equal(t, clientID, claims["client_id"])
	assert.Equal(t, scope, claims["scope"])
	assert.NotEmpty(t, claims["jti"])
}

// requireRefused checks that v refuses token under want, and for why.
func requireRefused(t *testing.T, v verifier, token string, want expectation, why refusal) {
	t.Helper()
	_, err := v.verify(t.Context(), token, want)
	require.Error(t, err, "%s accepted a token it must refuse for %s", v.name(), why)
	assert.Equal(t, why, v.refusal(err), "%s refused for another reason: %v", v.name(), err)
}

// keyfuncVerifier is MicahParks/keyfunc v3 with golang-jwt v5, the usual Go
// resource server: keyfunc keeps the JWKS, refreshing it hourly and, when a
// token names a kid it lacks, at once (at most once every 5 minutes).
type keyfuncVerifier struct {
	kf keyfunc.Keyfunc
}

// newKeyfuncVerifier fetches the JWKS at jwksURL, now, and keeps it until the
// test ends.
func newKeyfuncVerifier(t *testing.T, jwksURL string) keyfuncVerifier {
	t.Helper()
	kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{jwksURL})
	require.NoError(t, err)
	return keyfuncVerifier{kf: kf}
}

func (keyfuncVerifier) name() string     { return "keyfunc" }
func (keyfuncVerifier) ready(*testing.T) {}

func (v keyfuncVerifier) verify(_ context.Context, token string, want expectation) (map[string]any, error) {
	parsed, err := gojwt.Parse(token, v.kf.Keyfunc,
		gojwt.WithValidMethods([]string{want.alg}),
		gojwt.WithIssuer(want.issuer),
		gojwt.WithAudience(want.audience),
		gojwt.WithExpirationRequired(),
	)
	if err != nil {
		return nil, err
	}
	if typ := parsed.Header["typ"]; typ != accessTokenType {
		return nil, fmt.Errorf("typ header %v is not %s", typ, accessTokenType)
	}
	return parsed.Claims.(gojwt.MapClaims), nil
}

// cachedKIDs returns the kids keyfunc holds now, without fetching anything.
func (v keyfuncVerifier) cachedKIDs(t *testing.T) []string {
	t.Helper()
	keys, err := v.kf.Storage().KeyReadAll(t.Context())
	require.NoError(t, err)
	kids := make([]string, 0, len(keys))
	for _, k := range keys {
		kids = append(kids, k.Marshal().KID)
	}
	return kids
}

func (keyfuncVerifier) refusal(err error) refusal {
	switch {
	case errors.Is(err, gojwt.ErrTokenSignatureInvalid):
		return badSignature
	case errors.Is(err, gojwt.ErrTokenInvalidIssuer):
		return wrongIssuer
	case errors.Is(err, gojwt.ErrTokenInvalidAudience):
		return wrongAudience
	case errors.Is(err, jwkset.ErrKeyNotFound):
		return unknownKey
	}
	return otherRefusal
}

// jwxVerifier is lestrrat-go/jwx v2's jwk.Cache with jwt.Parse, the engine of
// the ggicci/caddy-jwt plugin. The cache refreshes the JWKS in the background
// on its own schedule and never on an unknown kid: a token signed by a key the
// cache has not fetched yet is refused until the next refresh.
//
// In a real deployment that schedule is max(max-age, minimum interval): our
// JWKS is cacheable for 5 minutes and jwx's default minimum is 15, checked
// every 15 minutes (the cache's refresh window), so a new key is fetched at
// most about 30 minutes after it is published, and it is published an hour
// before it signs. The test scales that down, refreshing every second where
// the key is published rotationLead (4 s) ahead: the same mechanism,
// with the same margin.
type jwxVerifier struct {
	cache *jwk.Cache
	url   string
}

// jwxRefresh is how often the tests' jwx caches refresh the JWKS.
const jwxRefresh = time.Second

// newJWXVerifier registers jwksURL with a cache that lives until the test
// ends, and fetches it once, as a resource server does at startup to fail
// fast on a wrong URL.
func newJWXVerifier(t *testing.T, jwksURL string) jwxVerifier {
	t.Helper()
	cache := jwk.NewCache(t.Context(), jwk.WithRefreshWindow(jwxRefresh))
	require.NoError(t, cache.Register(jwksURL, jwk.WithRefreshInterval(jwxRefresh)))
	_, err := cache.Refresh(t.Context(), jwksURL)
	require.NoError(t, err)
	return jwxVerifier{cache: cache, url: jwksURL}
}

func (jwxVerifier) name() string     { return "jwx" }
func (jwxVerifier) ready(*testing.T) {}

func (v jwxVerifier) verify(ctx context.Context, token string, want expectation) (map[string]any, error) {
	set, err := v.cache.Get(ctx, v.url)
	if err != nil {
		return nil, err
	}
	parsed, err := jwxjwt.Parse([]byte(token),
		jwxjwt.WithKeySet(set),
		jwxjwt.WithValidate(true),
		jwxjwt.WithIssuer(want.issuer),
		jwxjwt.WithAudience(want.audience),
	)
	if err != nil {
		return nil, err
	}
	// jwt.Parse does not expose the header; jws.Parse reads it from the
	// token just verified.
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, err
	}
	if typ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != accessTokenType {
		return nil, fmt.Errorf("typ header %q is not %s", typ, accessTokenType)
	}
	return parsed.AsMap(ctx)
}

// cachedKIDs returns the kids the cache holds now, without fetching anything.
func (v jwxVerifier) cachedKIDs(t *testing.T) []string {
	t.Helper()
	set, err := v.cache.Get(t.Context(), v.url)
	require.NoError(t, err)
	kids := make([]string, 0, set.Len())
	for i := range set.Len() {
		key, _ := set.Key(i)
		kids = append(kids, key.KeyID())
	}
	return kids
}

func (jwxVerifier) refusal(err error) refusal {
	switch {
	case jws.IsVerificationError(err):
		return badSignature
	case errors.Is(err, jwxjwt.ErrInvalidIssuer()):
		return wrongIssuer
	case errors.Is(err, jwxjwt.ErrInvalidAudience()):
		return wrongAudience
	// jwx v2 has no error value for a kid missing from the key set, only
	// this message (jws/key_provider.go).
	case strings.Contains(err.Error(), "failed to find key with key ID"):
		return unknownKey
	}
	return otherRefusal
}

// Node.js and the jose package, which interop/node's package-lock.json pins.
const (
	// requireNodeEnv makes a missing Node.js or jose fail the tests rather
	// than skip the jose cases; CI sets it.
	requireNodeEnv = "OAUTH2_TEST_REQUIRE_NODE"
	verifyScript   = "node/verify.mjs"
	joseInstalled  = "node/node_modules/jose/package.json"
	// nodeTimeout bounds one run of verify.mjs.
	nodeTimeout = 30 * time.Second
)

// joseVerifier is jose on Node.js: createRemoteJWKSet and jwtVerify, in
// interop/node/verify.mjs. Every verification runs a new node process, with a
// new key set that fetches the JWKS on first use, so a rotated key is no test
// of jose's own refetch on an unknown kid (which, by default, it does at most
// every 30 s).
type joseVerifier struct {
	jwksURL string
}

func (joseVerifier) name() string { return "jose" }

// ready skips t when node or jose is missing, unless OAUTH2_TEST_REQUIRE_NODE=1.
func (joseVerifier) ready(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(joseInstalled)
	}
	if err == nil {
		return
	}
	if os.Getenv(requireNodeEnv) == "1" {
		t.Fatalf("jose cannot run (%v), and %s=1", err, requireNodeEnv)
	}
	t.Skipf("jose cannot run (%v): install Node.js and run `npm ci --prefix interop/node` in the repository root", err)
}

// joseError is a refusal as verify.mjs reports it: jose's error code, and
// the claim that failed validation, if one did.
type joseError struct {
	Code    string `json:"code"`
	Claim   string `json:"claim"`
	Message string `json:"message"`
}

func (e *joseError) Error() string { return fmt.Sprintf("jose: %s: %s", e.Code, e.Message) }

func (v joseVerifier) verify(ctx context.Context, token string, want expectation) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", verifyScript, v.jwksURL, want.issuer, want.audience, token)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if exit, ok := errors.AsType[*exec.ExitError](err); ok && exit.ExitCode() == 1 {
		refused := new(joseError)
		if jsonErr := json.Unmarshal([]byte(stderr.String()), refused); jsonErr != nil {
			return nil, fmt.Errorf("verify.mjs: %w: %s", err, stderr.String())
		}
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("verify.mjs: %w: %s", err, stderr.String())
	}
	var claims map[string]any
	if err := json.Unmarshal(stdout, &claims); err != nil {
		return nil, fmt.Errorf("verify.mjs printed no JSON payload: %w: %q", err, stdout)
	}
	return claims, nil
}

func (joseVerifier) refusal(err error) refusal {
	refused, ok := errors.AsType[*joseError](err)
	if !ok {
		return otherRefusal
	}
	switch {
	case refused.Code == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
		return badSignature
	case refused.Code == "ERR_JWT_CLAIM_VALIDATION_FAILED" && refused.Claim == "iss":
		return wrongIssuer
	case refused.Code == "ERR_JWT_CLAIM_VALIDATION_FAILED" && refused.Claim == "aud":
		return wrongAudience
	case refused.Code == "ERR_JWKS_NO_MATCHING_KEY":
		return unknownKey
	}
	return otherRefusal
}
