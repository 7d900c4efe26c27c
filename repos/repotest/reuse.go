package repotest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// accessTTL is the lifetime of the access tokens of the reuse-interval
// subtests.
const accessTTL = 10 * time.Minute

// runReuseInterval checks the refresh reuse interval (DESIGN.md §5a): a
// client presenting a token it just rotated, within the interval, gets the
// same successor again, and the family never forks.
func runReuseInterval(t *testing.T, newBackend NewBackend) {
	t.Run("RetryGetsTheSameSuccessor", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		r2 := newRefresh(r1.FamilyID)
		got, err := tk.rotateWithin(r1.ID, now, r2, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, r2, got, "a rotation that is no retry records its own successor")

		retry := newRefresh(r1.FamilyID)
		got, err = tk.rotateWithin(r1.ID, now.Add(30*time.Second), retry, time.Minute)
		require.NoError(t, err)
		tk.assertSuccessor(r2, retry, got)

		r4 := newRefresh(r1.FamilyID)
		got, err = tk.rotateWithin(r2.ID, now.Add(time.Minute), r4, time.Minute)
		require.NoError(t, err, "the successor then rotates normally")
		assert.Equal(t, r4, got)
		tk.assertRefresh(r2.ID, true, false)
		tk.assertRefresh(r4.ID, false, false)
		tk.assertAccess(retry.AccessTokenID, false)
	})

	t.Run("Retries", runRetries(newBackend))

	// A retry whose COMMIT's answer was lost is run again (batch.go): it
	// succeeds with the same answer and records nothing twice.
	t.Run("RetryRunAgainChangesNothing", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		r2 := newRefresh(r1.FamilyID)
		_, err := tk.rotateWithin(r1.ID, now, r2, time.Minute)
		require.NoError(t, err)
		retry := newRefresh(r1.FamilyID)
		first, err := tk.rotateWithin(r1.ID, now.Add(time.Second), retry, time.Minute)
		require.NoError(t, err)
		again, err := tk.rotateWithin(r1.ID, now.Add(time.Second), retry, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, first, again)
		tk.assertSuccessor(r2, retry, again)
	})

	t.Run("ConcurrentRetriesShareOneSuccessor", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()

		const n = 40
		nexts, got, errs := make([]repos.RefreshToken, n), make([]repos.RefreshToken, n), make([]error, n)
		for i := range n {
			nexts[i] = newRefresh(r1.FamilyID)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = tk.rotateWithin(r1.ID, now, nexts[i], time.Minute)
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i := range n {
			require.NoError(t, errs[i], "rotation %d", i)
			if got[i].ID == nexts[i].ID {
				require.Equal(t, -1, winner, "second successor recorded: rotations %d and %d", winner, i)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "no rotation recorded its successor")
		for i := range n {
			assert.Equal(t, nexts[winner].ID, got[i].ID, "rotation %d got the one successor", i)
			assert.Equal(t, nexts[i].AccessTokenID, got[i].AccessTokenID, "rotation %d keeps its own access token", i)
			tk.assertAccess(nexts[i].AccessTokenID, false)
			if i != winner {
				tk.assertRefreshAbsent(nexts[i].ID)
			}
		}
		tk.assertRefresh(r1.ID, true, false)
		tk.assertRefresh(nexts[winner].ID, false, false)
		require.NoError(t, tk.rotate(nexts[winner].ID, now.Add(time.Minute), newRefresh(r1.FamilyID)), "the successor rotates")
	})

	// A retry's access token is recorded in the family, so whatever revokes
	// the family revokes it.
	t.Run("RevokingTheFamilyRevokesARetrysAccessToken", func(t *testing.T) {
		for name, revoke := range map[string]func(tk *tokens, r1, r2 repos.RefreshToken){
			"RevokeFamily": func(tk *tokens, r1, _ repos.RefreshToken) {
				require.NoError(tk.t, tk.store.RevokeFamily(tk.t.Context(), r1.FamilyID))
			},
			"replay after the interval": func(tk *tokens, r1, _ repos.RefreshToken) {
				_, err := tk.rotateWithin(r1.ID, now.Add(time.Hour), newRefresh(r1.FamilyID), time.Minute)
				require.ErrorIs(tk.t, err, repos.ErrTokenUsed)
			},
			"RevokeFamilies": func(tk *tokens, r1, _ repos.RefreshToken) {
				n, err := tk.store.RevokeFamilies(tk.t.Context(), repos.FamilyOwner{UserID: r1.UserID})
				require.NoError(tk.t, err)
				assert.Equal(tk.t, 1, n)
			},
		} {
			t.Run(name, func(t *testing.T) {
				tk := newTokens(t, newBackend)
				r1 := tk.issue()
				r2 := newRefresh(r1.FamilyID)
				_, err := tk.rotateWithin(r1.ID, now, r2, time.Minute)
				require.NoError(t, err)
				retry := newRefresh(r1.FamilyID)
				_, err = tk.rotateWithin(r1.ID, now.Add(time.Second), retry, time.Minute)
				require.NoError(t, err)
				tk.assertAccess(retry.AccessTokenID, false)

				revoke(tk, r1, r2)
				tk.assertAccess(retry.AccessTokenID, true)
				tk.assertRefresh(r2.ID, false, true)
			})
		}
	})

	t.Run("IntervalWithoutAccessExpiryFails", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		next := newRefresh(r1.FamilyID)
		_, err := tk.store.Rotate(t.Context(), repos.Rotation{OldID: r1.ID, Now: now, Next: next, ReuseInterval: time.Minute})
		require.Error(t, err)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertRefreshAbsent(next.ID)
	})
}

// runRetries presents a token again after rotating it: within the interval
// and with its successor usable, that is a retry that gets the successor;
// otherwise a replay that revokes the family.
func runRetries(newBackend NewBackend) func(t *testing.T) {
	return func(t *testing.T) {
		second := time.Second
		tests := []struct {
			name     string
			interval time.Duration
			// successorTTL is the lifetime of the successor r2.
			successorTTL time.Duration
			// setup runs after r1 was rotated into r2 at now.
			setup func(tk *tokens, r2 repos.RefreshToken)
			// at is when r1 is presented again.
			at   time.Duration
			want error // nil: the retry gets r2
		}{
			{name: "within the interval", interval: time.Minute, at: 30 * second},
			{name: "in its last second", interval: time.Minute, at: 59 * second},
			{name: "at its end", interval: time.Minute, at: 60 * second, want: repos.ErrTokenUsed},
			{name: "long after", interval: time.Minute, at: 24 * time.Hour, want: repos.ErrTokenUsed},
			{name: "no interval", at: 0, want: repos.ErrTokenUsed},
			{name: "no interval, this clock behind", at: -10 * second, want: repos.ErrTokenUsed},
			{name: "successor used", interval: time.Minute, at: 10 * second, want: repos.ErrTokenUsed,
				setup: func(tk *tokens, r2 repos.RefreshToken) {
					require.NoError(tk.t, tk.rotate(r2.ID, now.Add(5*time.Second), newRefresh(r2.FamilyID)))
				}},
			{name: "successor expired", interval: time.Minute, successorTTL: 20 * second, at: 20 * second, want: repos.ErrTokenUsed},
			{name: "family revoked", interval: time.Minute, at: 10 * second, want: repos.ErrTokenRevoked,
				setup: func(tk *tokens, r2 repos.RefreshToken) {
					require.NoError(tk.t, tk.store.RevokeFamily(tk.t.Context(), r2.FamilyID))
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tk := newTokens(t, newBackend)
				r1 := tk.issue()
				r2 := newRefresh(r1.FamilyID)
				if tt.successorTTL != 0 {
					r2.ExpiresAt = now.Add(tt.successorTTL)
				}
				_, err := tk.rotateWithin(r1.ID, now, r2, tt.interval)
				require.NoError(t, err)
				if tt.setup != nil {
					tt.setup(tk, r2)
				}

				retry := newRefresh(r1.FamilyID)
				got, err := tk.rotateWithin(r1.ID, now.Add(tt.at), retry, tt.interval)
				tk.assertRefreshAbsent(retry.ID)
				if tt.want == nil {
					require.NoError(t, err)
					tk.assertSuccessor(r2, retry, got)
					return
				}
				require.ErrorIs(t, err, tt.want)
				assert.Zero(t, got)
				tk.assertAccessAbsent(retry.AccessTokenID)
				tk.assertRefresh(r1.ID, true, true)
				_, revoked, err := tk.store.RefreshTokenState(t.Context(), r2.ID)
				require.NoError(t, err)
				assert.True(t, revoked, "the family is revoked")
			})
		}
	}
}

// rotateWithin rotates oldID into next at the given time with a reuse
// interval, the next access token living accessTTL.
func (tk *tokens) rotateWithin(oldID string, at time.Time, next repos.RefreshToken, interval time.Duration) (repos.RefreshToken, error) {
	return tk.store.Rotate(tk.t.Context(), repos.Rotation{
		OldID: oldID, Now: at, Next: next, ReuseInterval: interval, AccessExpiresAt: at.Add(accessTTL),
	})
}

// assertSuccessor checks that a retry that presented the token rotated into
// successor got successor as stored, with the access token of its own next,
// and that the family lives on: the successor unused, the retry's access
// token recorded in the family, the retry's refresh token not recorded.
func (tk *tokens) assertSuccessor(successor, next, got repos.RefreshToken) {
	tk.t.Helper()
	assert.Equal(tk.t, successor.ID, got.ID, "the same successor")
	assert.Equal(tk.t, successor.FamilyID, got.FamilyID, "family")
	assert.Equal(tk.t, successor.ClientID, got.ClientID, "client")
	assert.Equal(tk.t, successor.UserID, got.UserID, "user")
	assert.Equal(tk.t, successor.Scopes, got.Scopes, "scopes")
	assert.Equal(tk.t, successor.ExpiresAt.Unix(), got.ExpiresAt.Unix(), "expiry")
	assert.Equal(tk.t, next.AccessTokenID, got.AccessTokenID, "the retry's own access token")

	tk.assertRefresh(successor.ID, false, false)
	tk.assertRefreshAbsent(next.ID)
	state, err := tk.store.AccessToken(tk.t.Context(), next.AccessTokenID)
	if assert.NoError(tk.t, err, "the retry's access token is recorded") {
		assert.Equal(tk.t, repos.AccessTokenState{FamilyID: successor.FamilyID}, state)
	}
}
