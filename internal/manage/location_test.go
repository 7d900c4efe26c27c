package manage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManageLocation_StringHidesTheDSN(t *testing.T) {
	loc := Location{Backend: "sql", Driver: "postgres", DSN: "postgres://caddy:s3cret@db/oauth2"}
	assert.Equal(t, "postgres database", loc.String())
	assert.Equal(t, "definitions file /etc/x.json", Location{Backend: "file", Path: "/etc/x.json"}.String())
}

func TestManageLocation_ChooseRepository(t *testing.T) {
	def := Location{Backend: BackendSQL, Driver: "sqlite", DSN: "/data/oauth2.db"}
	defs := Location{Backend: BackendFile, Path: "/etc/caddy/defs.json"}
	got, err := chooseRepository([]Location{def})
	require.NoError(t, err)
	assert.Equal(t, def, got)
	got, err = chooseRepository([]Location{defs, defs})
	require.NoError(t, err)
	assert.Equal(t, defs, got, "several handlers, one repository")

	_, err = chooseRepository(nil)
	assert.ErrorContains(t, err, "no oauth2_server or oauth2_token handler; name the repository with --repository")
	server := Location{Backend: BackendSQL, Driver: "postgres", DSN: "postgres://u:s3cret@db/x"}
	_, err = chooseRepository([]Location{server, defs})
	assert.ErrorContains(t, err, "use 2 different repositories (postgres database; definitions file /etc/caddy/defs.json); choose one with --repository")
	assert.NotContains(t, err.Error(), "s3cret", "no DSN in errors")
}
