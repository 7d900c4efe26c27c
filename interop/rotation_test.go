package interop_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The generated-key schedule of the rotation test, shortened through
// CADDY_OAUTH2_TEST_KEY_LEAD: the first key signs for rotationPeriod; the next
// is published rotationPeriod−rotationLead after startup and signs from
// rotationPeriod on. The lead is four times jwxRefresh, as the real hour is
// twice jwx's worst case of about 30 minutes; the period leaves the verifiers
// 8 s to start before the next key appears.
const (
	rotationLead   = 4 * time.Second
	rotationPeriod = 12 * time.Second
	// rotationWait bounds each wait for a step of the rotation.
	rotationWait = 2 * rotationPeriod
)

// TestRotation checks that each verifier, started while the JWKS holds only
// the first generated key, accepts a token of that key, and then, without
// being restarted, a token of the key that replaces it, as a resource server
// must across a rotation; and that it still accepts the first token, whose
// key stays published until every token it signed has expired.
func TestRotation(t *testing.T) {
	t.Parallel()
	bin := caddyBinary(t)
	srv := newAuthServer(t)
	config := caddyfile(t, srv.site(writeDefinitions(t), "key_rotation "+rotationPeriod.String()))
	startCaddy(t, bin, config, []string{keyLeadEnv + "=" + rotationLead.String()}, srv.addr)

	kids := srv.mustKIDs(t)
	require.Len(t, kids, 1, "a fresh key set holds only the key that signs")
	kf, jx := newKeyfuncVerifier(t, srv.jwksURL()), newJWXVerifier(t, srv.jwksURL())
	verifiers := []verifier{kf, jx, joseVerifier{jwksURL: srv.jwksURL()}}
	// Had the next key been published already, keyfunc would have fetched it
	// at startup, and its token would prove nothing about the refetch.
	require.Equal(t, kids, srv.mustKIDs(t), "the next key was published while the verifiers started; is the machine that slow?")

	first := srv.mustToken(t)
	h := header(t, first)
	require.Equal(t, joseHeader{Alg: "ES256", Typ: accessTokenType, Kid: kids[0]}, h, "a generated key is ES256")
	want := srv.expect(h.Alg)
	for _, v := range verifiers {
		t.Run(v.name()+"/first key", func(t *testing.T) {
			v.ready(t)
			requireAccepted(t, v, first, want)
			// The failures the check above could hide: a verifier that
			// checked nothing would accept these too.
			requireRefused(t, v, tamper(t, first), want, badSignature)
			requireRefused(t, v, first, expectation{issuer: "http://issuer.example", audience: want.audience, alg: want.alg}, wrongIssuer)
			requireRefused(t, v, first, expectation{issuer: want.issuer, audience: "https://other-api.example", alg: want.alg}, wrongAudience)
		})
	}

	next := waitForRotation(t, srv, kids[0])
	nextKID := header(t, next).Kid
	// Each Go library has its own way to the next key. keyfunc refreshes
	// hourly, so it has not yet: it fetches the JWKS again when a token names
	// a kid it lacks. jwx never does that, but its cache has refreshed since
	// the key was published, before the key signed.
	require.NotContains(t, kf.cachedKIDs(t), nextKID, "keyfunc refreshed the JWKS before it needed to")
	require.Contains(t, jx.cachedKIDs(t), nextKID, "the jwx cache did not refresh within the %s lead", rotationLead)
	for _, v := range verifiers {
		t.Run(v.name()+"/next key", func(t *testing.T) {
			v.ready(t)
			requireAccepted(t, v, next, want)
			requireAccepted(t, v, first, want)
			requireRefused(t, v, tamper(t, next), want, badSignature)
		})
	}
	require.Contains(t, kf.cachedKIDs(t), nextKID, "keyfunc fetched the JWKS again for the unknown kid")
}

// waitForRotation waits until the JWKS of srv publishes a second key beside
// old, then until the token endpoint signs with it, and returns a token it
// signed.
func waitForRotation(t *testing.T, srv authServer, old string) string {
	t.Helper()
	var next string
	waitFor(t, rotationWait, "the JWKS to publish the next key", func(ctx context.Context) (bool, string, error) {
		kids, err := srv.kids(ctx)
		if err != nil || len(kids) != 2 || !slices.Contains(kids, old) {
			return false, fmt.Sprintf("kids %v", kids), err
		}
		next = kids[0]
		if next == old {
			next = kids[1]
		}
		return true, "", nil
	})
	var token string
	waitFor(t, rotationWait, "a token signed by the next key "+next, func(ctx context.Context) (bool, string, error) {
		var err error
		token, err = srv.token(ctx)
		if err != nil {
			return false, "no token", err
		}
		kid := header(t, token).Kid
		return kid == next, "a token signed by " + kid, nil
	})
	return token
}
