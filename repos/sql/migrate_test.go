package sql

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/internal/testdb"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestMigrations_NumberedFromOne(t *testing.T) {
	for name := range dialects {
		ms, err := migrations(name)
		require.NoError(t, err, name)
		require.NotEmpty(t, ms, name)
		for i, m := range ms {
			assert.Equal(t, i+1, m.version, m.name)
			assert.NotEmpty(t, m.statements, m.name)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- a comment; with a semicolon
CREATE TABLE a (
    id TEXT -- trailing comments stay; SQL ignores them
);

CREATE INDEX a_id ON a (id);
CREATE TABLE b (id TEXT)`
	assert.Equal(t, []string{
		"CREATE TABLE a (\n    id TEXT -- trailing comments stay; SQL ignores them\n)",
		"CREATE INDEX a_id ON a (id)",
		"CREATE TABLE b (id TEXT)",
	}, splitStatements(script))
}

// A database that an older build created and used is upgraded in place: its
// rows stay, and behave as the new schema means them to.
func TestMigrate_UpgradesAVersion1Database(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, driver, dsn string) {
		ctx := t.Context()
		now := time.Unix(1_700_000_000, 0)
		d := dialects[driver]
		ms, err := migrations(driver)
		require.NoError(t, err)
		p, err := d.connect(ctx, dsn)
		require.NoError(t, err)
		require.NoError(t, migrateTo(ctx, p.write, d, ms[:1]))
		// A client, and a family whose first token version 1 consumed.
		for _, q := range []string{
			`INSERT INTO clients (id, name, secret_hash, grants) VALUES ('web', 'Web app', '$2a$04$x', 'refresh_token')`,
			`INSERT INTO token_families (id) VALUES ('f')`,
			`INSERT INTO refresh_tokens (id, family_id, client_id, user_id, scopes, expires_at, access_token_id, used_at)
				VALUES ('r1', 'f', 'web', 'u-1', 'read', ?, 'a1', ?)`,
			`INSERT INTO refresh_tokens (id, family_id, client_id, user_id, scopes, expires_at, access_token_id)
				VALUES ('r2', 'f', 'web', 'u-1', 'read', ?, 'a2')`,
		} {
			args := []any{now.Add(time.Hour).Unix(), now.Unix()}[:strings.Count(q, "?")]
			_, err := p.write.ExecContext(ctx, rebind(d.bind, q), args...)
			require.NoError(t, err)
		}
		require.NoError(t, p.close())

		s, err := Open(ctx, driver, dsn)
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		var version int
		require.NoError(t, s.read.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version))
		assert.Equal(t, len(ms), version)
		c, err := s.Client(ctx, "web")
		require.NoError(t, err)
		assert.Equal(t, &repos.Client{ID: "web", Name: "Web app", SecretHash: "$2a$04$x", Grants: []string{"refresh_token"}}, c,
			"an existing client may not introspect")
		state, err := s.AccessToken(ctx, "a2")
		require.NoError(t, err)
		assert.Equal(t, repos.AccessTokenState{FamilyID: "f"}, state)

		// The live token rotates, and a retry of it gets its successor.
		rotation := func(old, next string) repos.Rotation {
			return repos.Rotation{OldID: old, Now: now, ReuseInterval: time.Minute, AccessExpiresAt: now.Add(time.Hour),
				Next: repos.RefreshToken{ID: next, FamilyID: "f", ClientID: "web", UserID: "u-1", Scopes: []string{"read"},
					ExpiresAt: now.Add(time.Hour), AccessTokenID: "a-" + next}}
		}
		_, err = s.Rotate(ctx, rotation("r2", "r3"))
		require.NoError(t, err)
		got, err := s.Rotate(ctx, rotation("r2", "r4"))
		require.NoError(t, err)
		assert.Equal(t, "r3", got.ID)

		// The token version 1 consumed names no successor: presented again,
		// even within the interval, it is a replay.
		_, err = s.Rotate(ctx, rotation("r1", "r5"))
		require.ErrorIs(t, err, repos.ErrTokenUsed)
		_, revoked, err := s.RefreshTokenState(ctx, "r3")
		require.NoError(t, err)
		assert.True(t, revoked)
	})
}

// MySQL commits each DDL statement, so a migration that a crash interrupted
// runs again from its first statement: the statements applied already must
// not stop it.
func TestMigrate_MySQLRunsAnInterruptedMigrationAgain(t *testing.T) {
	ctx := t.Context()
	testdb.DSN(t, mysqlDialect.name) // skip at once when not configured
	ms, err := migrations(mysqlDialect.name)
	require.NoError(t, err)
	for i := 1; i < len(ms); i++ {
		t.Run(ms[i].name, func(t *testing.T) {
			for done := range ms[i].statements {
				dsn := testdb.New(t, mysqlDialect.name)
				p, err := mysqlDialect.connect(ctx, dsn)
				require.NoError(t, err)
				require.NoError(t, migrateTo(ctx, p.write, mysqlDialect, ms[:i]))
				for _, stmt := range ms[i].statements[:done+1] {
					_, err := p.write.ExecContext(ctx, stmt)
					require.NoError(t, err)
				}
				require.NoError(t, p.close())

				s, err := Open(ctx, mysqlDialect.name, dsn)
				require.NoError(t, err, "after %d statements of %s", done+1, ms[i].name)
				require.NoError(t, s.Close())
			}
		})
	}
}
