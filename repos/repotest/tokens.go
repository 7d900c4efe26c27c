package repotest

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// now is the clock of every token subtest: times are explicit, nothing sleeps.
var now = time.Unix(1_700_000_000, 0)

const (
	accessTTL  = 10 * time.Minute
	refreshTTL = time.Hour
)

func runTokens(t *testing.T, newBackend NewBackend) {
	t.Run("IssueRecordsTokens", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		a, r := tk.issue()
		tk.assertRefresh(r.ID, false, false)
		tk.assertAccess(a.ID, false)

		alone := newAccess(newID("family"))
		require.NoError(t, tk.store.Issue(t.Context(), alone, nil))
		tk.assertAccess(alone.ID, false)
	})

	t.Run("UnknownTokensAreNotFound", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		_, _, err := tk.store.RefreshTokenState(t.Context(), "nothing")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		_, err = tk.store.AccessTokenRevoked(t.Context(), "nothing")
		assert.ErrorIs(t, err, repos.ErrNotFound)
	})

	t.Run("IssueDuplicateIDFails", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		a, r := tk.issue()

		again := a
		again.FamilyID = newID("family")
		assert.ErrorIs(t, tk.store.Issue(t.Context(), again, nil), repos.ErrDuplicate, "access id")

		// The refresh id collides after the access token is written: the
		// access token must go too.
		fresh := newAccess(newID("family"))
		clash := *r
		clash.FamilyID = fresh.FamilyID
		assert.ErrorIs(t, tk.store.Issue(t.Context(), fresh, &clash), repos.ErrDuplicate, "refresh id")
		tk.assertAccessAbsent(fresh.ID)
		tk.assertRefresh(r.ID, false, false)
	})

	t.Run("RotateConsumesToken", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		a1, r1 := tk.issue()
		a2, r2 := newAccess(r1.FamilyID), newRefresh(r1.FamilyID)

		require.NoError(t, tk.store.Rotate(t.Context(), r1.ID, now, a2, r2))
		tk.assertRefresh(r1.ID, true, false)
		tk.assertRefresh(r2.ID, false, false)
		tk.assertAccess(a1.ID, false)
		tk.assertAccess(a2.ID, false)

		a3, r3 := newAccess(r1.FamilyID), newRefresh(r1.FamilyID)
		require.NoError(t, tk.store.Rotate(t.Context(), r2.ID, now.Add(time.Minute), a3, r3), "successor rotates in turn")
		tk.assertRefresh(r2.ID, true, false)
	})

	t.Run("RotateWithoutSuccessor", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		_, r1 := tk.issue()
		a2 := newAccess(r1.FamilyID)

		require.NoError(t, tk.store.Rotate(t.Context(), r1.ID, now, a2, nil))
		tk.assertRefresh(r1.ID, true, false)
		tk.assertAccess(a2.ID, false)
	})

	t.Run("RotateRefusals", runRotateRefusals(newBackend))

	t.Run("ReplayRevokesFamily", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		a1, r1 := tk.issue()
		a2, r2 := newAccess(r1.FamilyID), newRefresh(r1.FamilyID)
		require.NoError(t, tk.store.Rotate(t.Context(), r1.ID, now, a2, r2))
		otherAccess, otherRefresh := tk.issue()

		a3, r3 := newAccess(r1.FamilyID), newRefresh(r1.FamilyID)
		err := tk.store.Rotate(t.Context(), r1.ID, now.Add(time.Minute), a3, r3)
		require.ErrorIs(t, err, repos.ErrTokenUsed)

		tk.assertRefresh(r1.ID, true, true)
		tk.assertRefresh(r2.ID, false, true)
		tk.assertAccess(a1.ID, true)
		tk.assertAccess(a2.ID, true)
		tk.assertAccessAbsent(a3.ID)
		tk.assertRefreshAbsent(r3.ID)
		tk.assertRefresh(otherRefresh.ID, false, false)
		tk.assertAccess(otherAccess.ID, false)

		err = tk.store.Rotate(t.Context(), r2.ID, now.Add(2*time.Minute), newAccess(r1.FamilyID), newRefresh(r1.FamilyID))
		assert.ErrorIs(t, err, repos.ErrTokenRevoked, "the legitimate holder's successor is dead too")
	})

	t.Run("RevokeFamily", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		a1, r1 := tk.issue()
		a2, r2 := newAccess(r1.FamilyID), newRefresh(r1.FamilyID)
		require.NoError(t, tk.store.Rotate(t.Context(), r1.ID, now, a2, r2))
		otherAccess, otherRefresh := tk.issue()

		require.NoError(t, tk.store.RevokeFamily(t.Context(), r1.FamilyID))
		tk.assertRefresh(r1.ID, true, true)
		tk.assertRefresh(r2.ID, false, true)
		tk.assertAccess(a1.ID, true)
		tk.assertAccess(a2.ID, true)
		tk.assertRefresh(otherRefresh.ID, false, false)
		tk.assertAccess(otherAccess.ID, false)

		a3 := newAccess(r1.FamilyID)
		err := tk.store.Rotate(t.Context(), r2.ID, now, a3, newRefresh(r1.FamilyID))
		assert.ErrorIs(t, err, repos.ErrTokenRevoked)
		tk.assertAccessAbsent(a3.ID)

		assert.NoError(t, tk.store.RevokeFamily(t.Context(), r1.FamilyID), "again")
		assert.NoError(t, tk.store.RevokeFamily(t.Context(), "no-such-family"), "unknown family")
	})

	t.Run("FailedRotateLeavesTokenUnused", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		takenAccess, takenRefresh := tk.issue()
		_, r1 := tk.issue()

		// The successor refresh token collides: the access token, written
		// first, must be rolled back along with the consumption of r1.
		a2 := newAccess(r1.FamilyID)
		next := newRefresh(r1.FamilyID)
		next.ID = takenRefresh.ID
		require.ErrorIs(t, tk.store.Rotate(t.Context(), r1.ID, now, a2, next), repos.ErrDuplicate)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertAccessAbsent(a2.ID)

		clash := newAccess(r1.FamilyID)
		clash.ID = takenAccess.ID
		r2 := newRefresh(r1.FamilyID)
		require.ErrorIs(t, tk.store.Rotate(t.Context(), r1.ID, now, clash, r2), repos.ErrDuplicate)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertRefreshAbsent(r2.ID)

		require.NoError(t, tk.store.Rotate(t.Context(), r1.ID, now, newAccess(r1.FamilyID), newRefresh(r1.FamilyID)),
			"the token still rotates")
	})

	t.Run("ConcurrentRotateHasOneWinner", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		_, r1 := tk.issue()

		const n = 50
		accesses, nexts, errs := make([]repos.AccessToken, n), make([]*repos.RefreshToken, n), make([]error, n)
		for i := range n {
			accesses[i], nexts[i] = newAccess(r1.FamilyID), newRefresh(r1.FamilyID)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = tk.store.Rotate(t.Context(), r1.ID, now, accesses[i], nexts[i])
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "second winner: rotations %d and %d", winner, i)
				winner = i
				continue
			}
			assert.True(t, errors.Is(err, repos.ErrTokenUsed) || errors.Is(err, repos.ErrTokenRevoked),
				"rotation %d: %v", i, err)
		}
		require.NotEqual(t, -1, winner, "no rotation succeeded")

		// Only the winner's successors exist; the losers replayed a used
		// token, so the family is revoked.
		for i := range n {
			if i == winner {
				tk.assertRefresh(nexts[i].ID, false, true)
				tk.assertAccess(accesses[i].ID, true)
				continue
			}
			tk.assertRefreshAbsent(nexts[i].ID)
			tk.assertAccessAbsent(accesses[i].ID)
		}
	})
}

// runRotateRefusals checks each reason a rotation is refused, and that a
// refusal records none of the tokens it was given.
func runRotateRefusals(newBackend NewBackend) func(t *testing.T) {
	return func(t *testing.T) {
		tests := []struct {
			name string
			// setup returns the id to rotate and the family it belongs to.
			setup   func(tk *tokens) (id, family string)
			at      time.Time
			want    error
			used    bool // the presented token's used flag afterwards
			revoked bool // and its revoked flag
		}{{
			name:  "unknown id",
			setup: func(tk *tokens) (string, string) { return "no-such-token", newID("family") },
			at:    now,
			want:  repos.ErrNotFound,
		}, {
			name:  "expired at its expiry second",
			setup: func(tk *tokens) (string, string) { _, r := tk.issue(); return r.ID, r.FamilyID },
			at:    now.Add(refreshTTL),
			want:  repos.ErrTokenExpired,
		}, {
			name:  "expired long ago",
			setup: func(tk *tokens) (string, string) { _, r := tk.issue(); return r.ID, r.FamilyID },
			at:    now.Add(365 * 24 * time.Hour),
			want:  repos.ErrTokenExpired,
		}, {
			name: "revoked",
			setup: func(tk *tokens) (string, string) {
				_, r := tk.issue()
				require.NoError(tk.t, tk.store.RevokeFamily(tk.t.Context(), r.FamilyID))
				return r.ID, r.FamilyID
			},
			at:      now,
			want:    repos.ErrTokenRevoked,
			revoked: true,
		}, {
			name: "revoked and expired",
			setup: func(tk *tokens) (string, string) {
				_, r := tk.issue()
				require.NoError(tk.t, tk.store.RevokeFamily(tk.t.Context(), r.FamilyID))
				return r.ID, r.FamilyID
			},
			at:      now.Add(refreshTTL),
			want:    repos.ErrTokenRevoked,
			revoked: true,
		}, {
			// A replay stays a replay after the token expires: its
			// successors may still be live.
			name: "used and expired since",
			setup: func(tk *tokens) (string, string) {
				_, r := tk.issue()
				require.NoError(tk.t, tk.store.Rotate(tk.t.Context(), r.ID, now, newAccess(r.FamilyID), newRefresh(r.FamilyID)))
				return r.ID, r.FamilyID
			},
			at:      now.Add(refreshTTL),
			want:    repos.ErrTokenUsed,
			used:    true,
			revoked: true,
		}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tk := newTokens(t, newBackend)
				id, family := tt.setup(tk)
				a, next := newAccess(family), newRefresh(family)

				err := tk.store.Rotate(t.Context(), id, tt.at, a, next)
				require.ErrorIs(t, err, tt.want)
				tk.assertAccessAbsent(a.ID)
				tk.assertRefreshAbsent(next.ID)
				if !errors.Is(tt.want, repos.ErrNotFound) {
					tk.assertRefresh(id, tt.used, tt.revoked)
				}
			})
		}

		t.Run("usable until its expiry second", func(t *testing.T) {
			tk := newTokens(t, newBackend)
			_, r := tk.issue()
			at := now.Add(refreshTTL - time.Second)
			require.NoError(t, tk.store.Rotate(t.Context(), r.ID, at, newAccess(r.FamilyID), newRefresh(r.FamilyID)))
		})
	}
}

// tokens is a fresh token store with assertion helpers.
type tokens struct {
	t     *testing.T
	store repos.TokenStore
}

func newTokens(t *testing.T, newBackend NewBackend) *tokens {
	t.Helper()
	_, store := newBackend(t, fixture())
	return &tokens{t: t, store: store}
}

// issue records a fresh grant: an access token and a refresh token of a new
// family, issued at now.
func (tk *tokens) issue() (repos.AccessToken, *repos.RefreshToken) {
	tk.t.Helper()
	family := newID("family")
	a, r := newAccess(family), newRefresh(family)
	require.NoError(tk.t, tk.store.Issue(tk.t.Context(), a, r))
	return a, r
}

func (tk *tokens) assertRefresh(id string, wantUsed, wantRevoked bool) {
	tk.t.Helper()
	used, revoked, err := tk.store.RefreshTokenState(tk.t.Context(), id)
	if assert.NoError(tk.t, err, "refresh token state") {
		assert.Equal(tk.t, wantUsed, used, "refresh token used")
		assert.Equal(tk.t, wantRevoked, revoked, "refresh token revoked")
	}
}

func (tk *tokens) assertRefreshAbsent(id string) {
	tk.t.Helper()
	_, _, err := tk.store.RefreshTokenState(tk.t.Context(), id)
	assert.ErrorIs(tk.t, err, repos.ErrNotFound, "refresh token must not be recorded")
}

func (tk *tokens) assertAccess(id string, wantRevoked bool) {
	tk.t.Helper()
	revoked, err := tk.store.AccessTokenRevoked(tk.t.Context(), id)
	if assert.NoError(tk.t, err, "access token state") {
		assert.Equal(tk.t, wantRevoked, revoked, "access token revoked")
	}
}

func (tk *tokens) assertAccessAbsent(id string) {
	tk.t.Helper()
	_, err := tk.store.AccessTokenRevoked(tk.t.Context(), id)
	assert.ErrorIs(tk.t, err, repos.ErrNotFound, "access token must not be recorded")
}

// newAccess returns an access token of the family for client "web" and user
// alice, issued at now.
func newAccess(family string) repos.AccessToken {
	return repos.AccessToken{
		ID: newID("at"), FamilyID: family, ClientID: "web", UserID: "u-1001",
		Scopes: []string{"read", "write"}, ExpiresAt: now.Add(accessTTL),
	}
}

// newRefresh returns a refresh token of the family, issued at now.
func newRefresh(family string) *repos.RefreshToken {
	return &repos.RefreshToken{
		ID: newID("rt"), FamilyID: family, ClientID: "web", UserID: "u-1001",
		Scopes: []string{"read", "write"}, ExpiresAt: now.Add(refreshTTL),
	}
}

// newID returns a unique id shaped like the real ones.
func newID(prefix string) string { return prefix + "-" + rand.Text() }
