package e2e_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The restart tests run caddy (see buildCaddy) as a child process: what
// they check (state that survives a crash, instances that share storage) cannot
// be seen from inside one process. Neither test configures private_key or
// encryption_key, so both keys are generated and kept in Caddy's storage.

func TestRestart_RefreshTokensSurviveACrash(t *testing.T) {
	bin := buildCaddy(t)
	defs := writeDefinitions(t)
	home := t.TempDir() // Caddy's data dir, hence its storage and the token database
	addr := freeAddr(t)
	caddyfile := writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
}

http://%s {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		grants password refresh_token
		repository file %s
	}
}
`, addr, defs))

	before := startCaddy(t, bin, caddyfile, home, addr)
	before.waitReady(t)
	issued := passwordGrantAt(t, addr)
	before.crash(t)

	after := startCaddy(t, bin, caddyfile, home, addr)
	after.waitReady(t)
	refreshed := refreshAt(t, addr, issued.str("refresh_token"))
	require.Equal(t, http.StatusOK, refreshed.status, "the refresh token issued before the crash is valid after it: %v", refreshed.body)
	assert.Equal(t, accessTokenKID(t, issued), accessTokenKID(t, refreshed),
		"the generated signing key survived the crash")

	replay := refreshAt(t, addr, issued.str("refresh_token"))
	assert.Equal(t, http.StatusBadRequest, replay.status)
	assert.Equal(t, "invalid_grant", replay.str("error"), "the pre-crash token was consumed after the restart: %v", replay.body)
	successor := refreshAt(t, addr, refreshed.str("refresh_token"))
	assert.Equal(t, "invalid_grant", successor.str("error"), "the replay revoked the family: %v", successor.body)
}

func TestRestart_InstancesShareGeneratedKeys(t *testing.T) {
	bin := buildCaddy(t)
	defs := writeDefinitions(t)
	shared := t.TempDir()
	caddyfile := func(addr string) string {
		return writeFile(t, "Caddyfile", fmt.Sprintf(`{
	admin off
	storage file_system %[1]s/storage
}

http://%[2]s {
	bind 127.0.0.1
	oauth2_token /oauth/token {
		grants password refresh_token
		repository file %[3]s {
			tokens sql sqlite %[1]s/tokens.db
		}
	}
}
`, shared, addr, defs))
	}

	// Started together, so both race to generate the keys; each has its own data
	// dir: only the configured storage and database are shared.
	addrA, addrB := freeAddr(t), freeAddr(t)
	a := startCaddy(t, bin, caddyfile(addrA), t.TempDir(), addrA)
	b := startCaddy(t, bin, caddyfile(addrB), t.TempDir(), addrB)
	a.waitReady(t)
	b.waitReady(t)

	issued := passwordGrantAt(t, addrA)
	atB := refreshAt(t, addrB, issued.str("refresh_token"))
	require.Equal(t, http.StatusOK, atB.status, "a token issued by A refreshes at B: %v", atB.body)
	atA := refreshAt(t, addrA, atB.str("refresh_token"))
	require.Equal(t, http.StatusOK, atA.status, "and B's successor refreshes at A: %v", atA.body)
	kid := accessTokenKID(t, issued)
	assert.Equal(t, kid, accessTokenKID(t, atB), "B signs with A's key")
	assert.Equal(t, kid, accessTokenKID(t, atA))

	replay := refreshAt(t, addrA, issued.str("refresh_token"))
	assert.Equal(t, "invalid_grant", replay.str("error"), "A knows B consumed the token: %v", replay.body)
}
