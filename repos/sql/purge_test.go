package sql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

func TestPurge_DeletesWhatNoRequestNeeds(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		now := time.Now()
		hour := time.Hour
		token := func(id, family string, expires time.Duration) repos.RefreshToken {
			return repos.RefreshToken{ID: id, FamilyID: family, ClientID: "web",
				ExpiresAt: now.Add(expires), AccessTokenID: "at-" + id}
		}
		// chain issues the first token and rotates it into each next one, so
		// that all but the last are used.
		chain := func(ts ...repos.RefreshToken) {
			require.NoError(t, s.Issue(ctx, ts[0]))
			for i, next := range ts[1:] {
				require.NoError(t, rotate(ctx, s, ts[i].ID, now.Add(-48*hour), next))
			}
		}
		revoke := func(family string, at time.Time) {
			_, err := s.write.ExecContext(ctx, rebind(s.dialect.bind,
				`UPDATE token_families SET revoked_at = ? WHERE id = ?`), at.Unix(), family)
			require.NoError(t, err)
		}

		chain(token("a1", "A", hour))                                                    // live
		chain(token("b1", "B", -hour), token("b2", "B", hour), token("b3", "B", 2*hour)) // oldest used one expired
		chain(token("c1", "C", -2*hour), token("c2", "C", -hour))                        // all expired
		chain(token("d1", "D", hour), token("d2", "D", 2*hour))                          // revoked long ago
		revoke("D", now.Add(-2*hour))
		chain(token("e1", "E", hour), token("e2", "E", 2*hour)) // revoked recently
		revoke("E", now.Add(-10*time.Minute))

		deleted, err := s.Purge(ctx, now, now.Add(-hour))
		require.NoError(t, err)
		assert.Equal(t, 5, deleted, "b1, c1, c2, d1, d2")

		for id, kept := range map[string]bool{
			"a1": true, "b1": false, "b2": true, "b3": true, "c1": false, "c2": false,
			"d1": false, "d2": false, "e1": true, "e2": true,
		} {
			_, _, err := s.RefreshTokenState(ctx, id)
			if kept {
				assert.NoError(t, err, "%s is kept", id)
			} else {
				assert.ErrorIs(t, err, repos.ErrNotFound, "%s is purged", id)
			}
		}
		assert.Equal(t, []string{"A", "B", "E"}, familyIDs(t, s), "C and D lost their last token, and their row")

		state, err := s.AccessToken(ctx, "at-e2")
		require.NoError(t, err)
		assert.True(t, state.Revoked, "a recently revoked family still reports its access tokens revoked")

		// What is left still behaves: the live token rotates, a used one is a replay.
		require.NoError(t, rotate(ctx, s, "a1", now, token("a2", "A", hour)))
		assert.ErrorIs(t, rotate(ctx, s, "b2", now, token("b4", "B", hour)), repos.ErrTokenUsed)

		deleted, err = s.Purge(ctx, now, now.Add(-hour))
		require.NoError(t, err)
		assert.Zero(t, deleted, "a second purge finds nothing")
	})
}

// Access tokens recorded on their own, a retry's or a denied one, are kept
// until their expiry, and a grace after it.
func TestPurge_DeletesExpiredAccessTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		now := time.Now()
		for jti, expires := range map[string]time.Duration{
			"denied-live": time.Hour, "denied-in-grace": -purgeGrace / 2, "denied-expired": -2 * time.Hour,
		} {
			require.NoError(t, s.DenyAccessToken(ctx, jti, now.Add(expires)))
		}
		// A family rotated three hours ago, and retried twice then, once with
		// an access token that expired since.
		then := now.Add(-3 * time.Hour)
		token := func(id string) repos.RefreshToken {
			return repos.RefreshToken{ID: id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}
		}
		require.NoError(t, s.Issue(ctx, token("r1")))
		require.NoError(t, rotate(ctx, s, "r1", then, token("r2")))
		for id, expires := range map[string]time.Time{"retry-live": now.Add(time.Hour), "retry-expired": now.Add(-2 * time.Hour)} {
			_, err := s.Rotate(ctx, repos.Rotation{OldID: "r1", Now: then, ReuseInterval: time.Minute, AccessExpiresAt: expires,
				Next: repos.RefreshToken{ID: id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: id}})
			require.NoError(t, err)
		}

		deleted, err := s.Purge(ctx, now, now.Add(-time.Hour))
		require.NoError(t, err)
		assert.Zero(t, deleted, "no refresh token expired")
		for jti, kept := range map[string]bool{
			"denied-live": true, "denied-in-grace": true, "denied-expired": false,
			"retry-live": true, "retry-expired": false, "at-r1": true, "at-r2": true,
		} {
			_, err := s.AccessToken(ctx, jti)
			if kept {
				assert.NoError(t, err, "%s is kept", jti)
			} else {
				assert.ErrorIs(t, err, repos.ErrNotFound, "%s is purged", jti)
			}
		}
	})
}

// A token is kept a while after its expiry: a rotation that read the clock
// just before the token expired may be about to consume it.
func TestPurge_KeepsJustExpiredTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		now := time.Now()
		require.NoError(t, s.Issue(t.Context(), repos.RefreshToken{ID: "rt", FamilyID: "f", ClientID: "web",
			ExpiresAt: now.Add(-purgeGrace / 2), AccessTokenID: "at"}))
		deleted, err := s.Purge(t.Context(), now, now)
		require.NoError(t, err)
		assert.Zero(t, deleted)
		deleted, err = s.Purge(t.Context(), now.Add(purgeGrace), now)
		require.NoError(t, err)
		assert.Equal(t, 1, deleted, "past the grace it goes")
	})
}

// Should a purge delete the row of a family that still has a live token (a
// rotation raced it), a replay in that family revokes the live token all the
// same.
func TestReplay_RevokesAFamilyWhoseRowIsGone(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		ctx := t.Context()
		now := time.Now()
		token := func(id string) repos.RefreshToken {
			return repos.RefreshToken{ID: id, FamilyID: "f", ClientID: "web", ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}
		}
		require.NoError(t, s.Issue(ctx, token("r1")))
		require.NoError(t, rotate(ctx, s, "r1", now, token("r2")))
		_, err := s.write.ExecContext(ctx, `DELETE FROM token_families`)
		require.NoError(t, err)

		assert.ErrorIs(t, rotate(ctx, s, "r1", now, token("r3")), repos.ErrTokenUsed)
		_, revoked, err := s.RefreshTokenState(ctx, "r2")
		require.NoError(t, err)
		assert.True(t, revoked, "the replay revoked the live successor")
		assert.ErrorIs(t, rotate(ctx, s, "r2", now, token("r4")), repos.ErrTokenRevoked)
	})
}

func TestPurge_SweepsPastOneBatch(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open func() *Store) {
		s := open()
		now := time.Now()
		const n = 2*purgeBatch + 7
		for i := range n {
			expires := -time.Hour
			if i%100 == 0 {
				expires = time.Hour // a few live ones along the way
			}
			id := fmt.Sprintf("t%05d", i)
			require.NoError(t, s.Issue(t.Context(), repos.RefreshToken{ID: id, FamilyID: "f" + id, ClientID: "web",
				ExpiresAt: now.Add(expires), AccessTokenID: "at-" + id}))
			require.NoError(t, s.DenyAccessToken(t.Context(), "denied-"+id, now.Add(expires)))
		}
		deleted, err := s.Purge(t.Context(), now, now)
		require.NoError(t, err)
		assert.Equal(t, n-11, deleted)
		assert.Len(t, familyIDs(t, s), 11)
		var access int
		require.NoError(t, s.read.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM access_tokens`).Scan(&access))
		assert.Equal(t, 11, access, "the live access tokens alone are left")
	})
}

func TestPurge_StopsWithItsContext(t *testing.T) {
	s := openSQLite(t, t.TempDir()+"/oauth2.db")
	now := time.Now()
	for i := range purgeBatch + 1 {
		id := fmt.Sprintf("t%05d", i)
		require.NoError(t, s.Issue(t.Context(), repos.RefreshToken{ID: id, FamilyID: "f" + id, ClientID: "web",
			ExpiresAt: now.Add(time.Hour), AccessTokenID: "at-" + id}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Purge(ctx, now, now)
	assert.ErrorIs(t, err, context.Canceled)
}

// familyIDs returns the ids of the families stored, in order.
func familyIDs(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `SELECT id FROM token_families ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}
