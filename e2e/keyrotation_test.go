package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The key rotation test runs two caddy processes on one storage folder, as
// instances behind a load balancer share Caddy's storage, with the key
// schedule shortened by the test-only CADDY_OAUTH2_TEST_KEY_LEAD: a key is
// published rotationLead before it signs and signs for rotationPeriod.
const (
	rotationLead   = 2 * time.Second
	rotationPeriod = 6 * time.Second
	// rotationWatch is how long the test watches: long enough for three
	// activations.
	rotationWatch = 3*rotationPeriod + 2*time.Second
)

// keyObservation is what one instance showed at one moment: the kids of its
// key set, then the kid of a token it signed right after.
type keyObservation struct {
	at        time.Time
	instance  int
	published []string
	signedBy  string
}

func TestKeyRotation_InstancesSharingStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two caddy processes and watches them for 20 s")
	}
	t.Setenv("CADDY_OAUTH2_TEST_KEY_LEAD", rotationLead.String())
	bin := buildCaddy(t)
	storage := t.TempDir()
	definitions := writeDefinitions(t)
	caddyfile := func(addr string) string {
		return writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
	storage file_system %s
}

http://%s {
	bind 127.0.0.1
	oauth2_server {
		issuer http://rotation.test
		key_rotation %s
		access_token_ttl 3s
		grants password refresh_token
		repository file %s
	}
}
`, storage, addr, rotationPeriod, definitions))
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	for _, addr := range addrs {
		startCaddy(t, bin, caddyfile(addr), t.TempDir(), addr).waitReady(t)
	}

	var seen []keyObservation
	for deadline := time.Now().Add(rotationWatch); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for i, addr := range addrs {
			published := jwksKIDs(t, addr)
			seen = append(seen, keyObservation{at: time.Now(), instance: i, published: published,
				signedBy: accessTokenKID(t, passwordGrantAt(t, addr))})
		}
	}

	signers := map[string]time.Time{} // kid → when it was first seen signing
	for _, o := range seen {
		if _, ok := signers[o.signedBy]; !ok {
			signers[o.signedBy] = o.at
		}
		assert.Contains(t, o.published, o.signedBy, "instance %d signs with a key its own key set lists", o.instance)
	}
	require.GreaterOrEqual(t, len(signers), 3, "at least two rotations in %s", rotationWatch)

	for kid, firstSigned := range signers {
		if kid == seen[0].signedBy {
			continue // the first key signed from the start
		}
		for instance := range addrs {
			// Each instance published the key before any instance signed
			// with it.
			assert.True(t, slices.ContainsFunc(seen, func(o keyObservation) bool {
				return o.instance == instance && o.at.Before(firstSigned) && slices.Contains(o.published, kid)
			}), "instance %d listed %s before it signed", instance, kid)
			// And both sign with it within a second of the activation:
			// the schedule is in storage, and each follows it by the clock.
			for _, o := range seen {
				if o.instance == instance && o.at.After(firstSigned.Add(time.Second)) && o.at.Before(firstSigned.Add(rotationPeriod-time.Second)) {
					assert.Equal(t, kid, o.signedBy, "instance %d at %s", instance, o.at.Sub(firstSigned))
				}
			}
		}
	}
}

// jwksKIDs fetches the key set of the server at addr and returns its kids.
func jwksKIDs(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/oauth/jwks.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	kids := make([]string, 0, len(doc.Keys))
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
