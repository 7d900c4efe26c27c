package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/internal/testdb"
	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// The instances tests run two caddy processes on one PostgreSQL or MySQL
// database, as a deployment behind a load balancer does. What they check
// (rotation is atomic and replays revoke across processes) depends on the
// database, not on anything the processes share in memory, so each process
// gets its own HOME: only the database, and the keys of the setup under test,
// are shared.

const (
	// raceRequests is how many requests race to refresh one token.
	raceRequests = 40
	// raceRounds is how many times they race: whether two instances' writes
	// overlap is a matter of timing, so one round may miss a lost update.
	raceRounds = 5
)

// instanceKeys is how the instances come to sign and seal with the same keys.
type instanceKeys struct {
	name string
	// setup returns the Caddyfile's global options and the handler's key
	// subdirectives, and the public key tokens must verify with (nil if the
	// key is generated, hence unknown to the test).
	setup func(t *testing.T) (global, handler string, public *ecdsa.PublicKey)
}

var instanceKeySetups = []instanceKeys{
	{
		// The operator's way: the same key files and secret on every instance.
		name: "shared key files",
		setup: func(t *testing.T) (string, string, *ecdsa.PublicKey) {
			key, err := tokens.GenerateKey()
			require.NoError(t, err)
			pemData, err := tokens.MarshalPrivateKey(key)
			require.NoError(t, err)
			keyFile := writeFile(t, "signing.pem", string(pemData))
			handler := fmt.Sprintf("private_key %s\n\t\tencryption_key %s", keyFile, testEncryptionKey)
			return "", handler, key.Public().(*ecdsa.PublicKey)
		},
	},
	{
		// The zero-config way: the keys are generated once and kept in the
		// storage that the instances share.
		name: "shared storage with generated keys",
		setup: func(t *testing.T) (string, string, *ecdsa.PublicKey) {
			return "storage file_system " + t.TempDir(), "", nil
		},
	},
}

func TestInstances_ShareOneDatabase(t *testing.T) {
	checks := []struct {
		name string
		run  func(t *testing.T, pair instancePair)
	}{
		{"tokens move between instances", checkTokensMove},
		{"one of concurrent refreshes wins", checkRefreshRace},
		{"a replay revokes the family everywhere", checkReplayRevokes},
		{"a revocation at one instance holds at the other", checkRevocationAcross},
	}
	for _, driver := range testdb.Drivers {
		t.Run(driver, func(t *testing.T) {
			for _, keys := range instanceKeySetups {
				t.Run(keys.name, func(t *testing.T) {
					dsn := testdb.New(t, driver)
					bin := buildCaddy(t)
					seedStore(t, driver, dsn)
					global, handler, public := keys.setup(t)
					repository := fmt.Sprintf("repository sql %s %s", driver, caddyfileQuote(dsn))
					pair := startInstances(t, bin, global, handler, repository)
					pair.public, pair.clientCredentials = public, true
					for _, check := range checks {
						t.Run(check.name, func(t *testing.T) { check.run(t, pair) })
					}
				})
			}
			// repository file keeps only token state in the database: every
			// instance reads the same definitions file.
			t.Run("definitions file with token state in the database", func(t *testing.T) {
				dsn := testdb.New(t, driver)
				bin := buildCaddy(t)
				global, handler, public := instanceKeySetups[0].setup(t)
				repository := fmt.Sprintf("repository file %s {\n\t\t\ttokens sql %s %s\n\t\t}",
					writeDefinitions(t), driver, caddyfileQuote(dsn))
				pair := startInstances(t, bin, global, handler, repository)
				pair.public = public
				for _, check := range checks {
					t.Run(check.name, func(t *testing.T) { check.run(t, pair) })
				}
			})
		})
	}
}

// instancePair is two caddy processes serving one database.
type instancePair struct {
	a, b string // their addresses
	// public verifies their access tokens; nil when the key is generated.
	public *ecdsa.PublicKey
	// clientCredentials is whether appClient may use client_credentials
	// (the database's may; the definitions file's may not).
	clientCredentials bool
}

// checkTokensMove: a token issued by A refreshes at B and B's successor at
// A, all signed with one key.
func checkTokensMove(t *testing.T, pair instancePair) {
	issued := passwordGrantAt(t, pair.a)
	atB := refreshAt(t, pair.b, issued.str("refresh_token"))
	require.Equal(t, http.StatusOK, atB.status, "a token issued by A refreshes at B: %s", answerSummary(atB))
	atA := refreshAt(t, pair.a, atB.str("refresh_token"))
	require.Equal(t, http.StatusOK, atA.status, "B's successor refreshes at A: %s", answerSummary(atA))

	kid := accessTokenKID(t, issued)
	for _, answer := range []tokenAnswer{atB, atA} {
		assert.Equal(t, kid, accessTokenKID(t, answer), "A and B sign with one key")
	}
	if pair.public != nil {
		for _, answer := range []tokenAnswer{issued, atB, atA} {
			verifyAccessToken(t, answer, pair.public)
		}
	}
}

// checkRefreshRace: of concurrent refreshes with one token at both instances
// exactly one succeeds, and since the others are replays, the family is
// revoked, the winner's successor included.
func checkRefreshRace(t *testing.T, pair instancePair) {
	for round := range raceRounds {
		issued := passwordGrantAt(t, pair.a)
		answers := raceRefresh(t, []string{pair.a, pair.b}, issued.str("refresh_token"), raceRequests)
		var winners []tokenAnswer
		statuses := map[string]int{}
		for _, answer := range answers {
			statuses[answerSummary(answer)]++
			if answer.status == http.StatusOK {
				winners = append(winners, answer)
			}
		}
		// Not require.Len: it would print the winners' tokens.
		require.Equal(t, 1, len(winners), "round %d: exactly one of %d concurrent refreshes at A and B succeeds; answers: %v",
			round, raceRequests, statuses)
		assert.Equal(t, raceRequests-1, statuses[invalidGrantAnswer],
			"round %d: the others are refused as used; answers: %v", round, statuses)

		successor := winners[0].str("refresh_token")
		for _, addr := range []string{pair.b, pair.a} {
			assert.Equal(t, invalidGrantAnswer, answerSummary(refreshAt(t, addr, successor)),
				"round %d: the race's replays revoked the winner's successor, as %s sees", round, addr)
		}
	}
}

// checkReplayRevokes: a token rotated at one instance and replayed at the
// other revokes its family, which both instances then refuse.
func checkReplayRevokes(t *testing.T, pair instancePair) {
	tests := []struct {
		name               string
		rotateAt, replayAt string
	}{
		{"rotated at A, replayed at B", pair.a, pair.b},
		{"rotated at B, replayed at A", pair.b, pair.a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued := passwordGrantAt(t, tt.rotateAt)
			rotated := refreshAt(t, tt.rotateAt, issued.str("refresh_token"))
			require.Equal(t, http.StatusOK, rotated.status, "rotation: %s", answerSummary(rotated))

			assert.Equal(t, invalidGrantAnswer, answerSummary(refreshAt(t, tt.replayAt, issued.str("refresh_token"))),
				"the other instance sees the token was used")
			successor := rotated.str("refresh_token")
			for _, addr := range []string{tt.rotateAt, tt.replayAt} {
				assert.Equal(t, invalidGrantAnswer, answerSummary(refreshAt(t, addr, successor)),
					"the replay revoked the successor, as %s sees", addr)
			}
		})
	}
}

// checkRevocationAcross: tokens revoked at A are refused, and introspected
// as inactive, at B, and the other way round; an access token of no family
// revoked at one instance is inactive at the other.
func checkRevocationAcross(t *testing.T, pair instancePair) {
	for _, tt := range []struct{ name, revokeAt, useAt string }{
		{"revoked at A, used at B", pair.a, pair.b},
		{"revoked at B, used at A", pair.b, pair.a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			issued := passwordGrantAt(t, tt.useAt)
			require.True(t, introspectAt(t, tt.useAt, issued.str("access_token"))["active"] == true)

			revoked := postForm(t, tt.revokeAt, "/oauth/revoke", url.Values{"token": {issued.str("refresh_token")}})
			require.Equal(t, http.StatusOK, revoked.status, "revocation: %s", answerSummary(revoked))
			assert.Equal(t, invalidGrantAnswer, answerSummary(refreshAt(t, tt.useAt, issued.str("refresh_token"))),
				"the other instance refuses the revoked refresh token")
			assert.Equal(t, false, introspectAt(t, tt.useAt, issued.str("access_token"))["active"],
				"and reports the family's access token inactive")
		})
	}
	t.Run("an access token of no family", func(t *testing.T) {
		if !pair.clientCredentials {
			t.Skip("the definitions file's client may not use client_credentials")
		}
		issued := postToken(t, pair.a, url.Values{"grant_type": {"client_credentials"}})
		require.Equal(t, http.StatusOK, issued.status, "client_credentials: %s", answerSummary(issued))
		require.Equal(t, true, introspectAt(t, pair.b, issued.str("access_token"))["active"], "active at B before")
		require.Equal(t, http.StatusOK, postForm(t, pair.a, "/oauth/revoke", url.Values{"token": {issued.str("access_token")}}).status)
		assert.Equal(t, false, introspectAt(t, pair.b, issued.str("access_token"))["active"])
	})
}

// introspectAt asks the server at addr about token, as appClient.
func introspectAt(t *testing.T, addr, token string) map[string]any {
	t.Helper()
	a := postForm(t, addr, "/oauth/introspect", url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, a.status, "introspection: %s", answerSummary(a))
	return a.body
}

// invalidGrantAnswer is the summary of an invalid_grant refusal.
const invalidGrantAnswer = "400 invalid_grant"

// startInstances starts two caddy processes that serve the token endpoint from
// one database, each with its own HOME, and waits until both listen. They are
// started together, so that with generated keys they race to create them.
func startInstances(t *testing.T, bin, global, keys, repository string) instancePair {
	t.Helper()
	caddyfile := func(addr string) string {
		return writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
	%s
}

http://%s {
	bind 127.0.0.1
	oauth2_server {
		issuer http://instances.test
		grants password refresh_token client_credentials
		%s
		%s
	}
}
`, global, addr, keys, repository))
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startCaddy(t, bin, caddyfile(addrA), t.TempDir(), addrA)
	b := startCaddy(t, bin, caddyfile(addrB), t.TempDir(), addrB)
	a.waitReady(t)
	b.waitReady(t)
	return instancePair{a: addrA, b: addrB}
}

// raceRefresh presents one refresh token n times at once, spread evenly over
// addrs, and returns every answer. The requests are prepared and their
// connections opened first and released together, so that they reach the
// servers as close to the same moment as a test can make them.
func raceRefresh(t *testing.T, addrs []string, refreshToken string, n int) []tokenAnswer {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
		answers     = make([]tokenAnswer, n)
		errs        = make([]error, n)
	)
	for i := range n {
		client := newTokenClient(addrs[i%len(addrs)], true)
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			// Open the connection before the barrier, so the race is between
			// requests, not between TCP handshakes.
			err := client.warmUp(t.Context())
			ready.Done()
			if err != nil {
				errs[i] = err
				return
			}
			<-start
			answers[i], errs[i] = client.post(t.Context(), form)
			client.http.CloseIdleConnections()
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	for i, err := range errs {
		require.NoError(t, err, "request %d to %s", i, addrs[i%len(addrs)])
	}
	return answers
}

// warmUp opens the client's kept-alive connection with a request that does
// not reach the token endpoint.
func (c *tokenClient) warmUp(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return errors.Join(err, resp.Body.Close())
}

// verifyAccessToken checks the answer's access token with the public half of
// the configured signing key.
func verifyAccessToken(t *testing.T, a tokenAnswer, public *ecdsa.PublicKey) {
	t.Helper()
	_, err := jwt.Parse(a.str("access_token"), func(*jwt.Token) (any, error) { return public, nil },
		jwt.WithValidMethods([]string{"ES256"}))
	assert.NoError(t, err, "the access token is signed with the configured key")
}
