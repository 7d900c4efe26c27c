package repotest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// now is the clock of every token subtest: times are explicit, nothing sleeps.
var now = time.Unix(1_700_000_000, 0)

const refreshTTL = time.Hour

func runTokens(t *testing.T, newBackend NewBackend) {
	t.Run("IssueRecordsTokens", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r := tk.issue()
		tk.assertRefresh(r.ID, false, false)
		tk.assertAccess(r.AccessTokenID, false)
	})

	t.Run("UnknownTokensAreNotFound", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r := tk.issue()
		_, _, err := tk.store.RefreshTokenState(t.Context(), "nothing")
		assert.ErrorIs(t, err, repos.ErrNotFound)
		_, err = tk.store.AccessToken(t.Context(), "nothing")
		assert.ErrorIs(t, err, repos.ErrNotFound)

		// The two kinds of id are looked up apart: a refresh token's id is not
		// the jti of an access token, nor the other way round.
		_, err = tk.store.AccessToken(t.Context(), r.ID)
		assert.ErrorIs(t, err, repos.ErrNotFound, "refresh id as a jti")
		_, _, err = tk.store.RefreshTokenState(t.Context(), r.AccessTokenID)
		assert.ErrorIs(t, err, repos.ErrNotFound, "jti as a refresh id")
	})

	t.Run("IssueDuplicateIDFails", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r := tk.issue()

		// The access token id collides: the refresh token must not be
		// recorded either.
		clash := newRefresh(newID("family"))
		clash.AccessTokenID = r.AccessTokenID
		assert.ErrorIs(t, tk.store.Issue(t.Context(), clash), repos.ErrDuplicate, "access id")
		tk.assertRefreshAbsent(clash.ID)

		// The refresh id collides: the access token must not be recorded.
		again := newRefresh(newID("family"))
		again.ID = r.ID
		assert.ErrorIs(t, tk.store.Issue(t.Context(), again), repos.ErrDuplicate, "refresh id")
		tk.assertAccessAbsent(again.AccessTokenID)

		// The family collides: a fresh grant starts a family of its own.
		sameFamily := newRefresh(r.FamilyID)
		assert.ErrorIs(t, tk.store.Issue(t.Context(), sameFamily), repos.ErrDuplicate, "family id")
		tk.assertRefreshAbsent(sameFamily.ID)
		tk.assertAccessAbsent(sameFamily.AccessTokenID)

		// The token they collided with is untouched.
		tk.assertRefresh(r.ID, false, false)
		tk.assertAccess(r.AccessTokenID, false)
	})

	t.Run("IssueWithoutAccessTokenIDFails", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r := newRefresh(newID("family"))
		r.AccessTokenID = ""
		assert.Error(t, tk.store.Issue(t.Context(), r))
		tk.assertRefreshAbsent(r.ID)
	})

	t.Run("RotateConsumesToken", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		r2 := newRefresh(r1.FamilyID)

		require.NoError(t, tk.rotate(r1.ID, now, r2))
		tk.assertRefresh(r1.ID, true, false)
		tk.assertRefresh(r2.ID, false, false)
		tk.assertAccess(r1.AccessTokenID, false)
		tk.assertAccess(r2.AccessTokenID, false)

		r3 := newRefresh(r1.FamilyID)
		require.NoError(t, tk.rotate(r2.ID, now.Add(time.Minute), r3), "successor rotates in turn")
		tk.assertRefresh(r2.ID, true, false)
		tk.assertAccess(r3.AccessTokenID, false)
	})

	t.Run("RotateRefusals", runRotateRefusals(newBackend))

	t.Run("ReplayRevokesFamily", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		r2 := newRefresh(r1.FamilyID)
		require.NoError(t, tk.rotate(r1.ID, now, r2))
		other := tk.issue()

		r3 := newRefresh(r1.FamilyID)
		err := tk.rotate(r1.ID, now.Add(time.Minute), r3)
		require.ErrorIs(t, err, repos.ErrTokenUsed)

		tk.assertRefresh(r1.ID, true, true)
		tk.assertRefresh(r2.ID, false, true)
		tk.assertAccess(r1.AccessTokenID, true)
		tk.assertAccess(r2.AccessTokenID, true)
		tk.assertAccessAbsent(r3.AccessTokenID)
		tk.assertRefreshAbsent(r3.ID)
		tk.assertRefresh(other.ID, false, false)
		tk.assertAccess(other.AccessTokenID, false)

		err = tk.rotate(r2.ID, now.Add(2*time.Minute), newRefresh(r1.FamilyID))
		assert.ErrorIs(t, err, repos.ErrTokenRevoked, "the legitimate holder's successor is dead too")
	})

	t.Run("RevokeFamily", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()
		r2 := newRefresh(r1.FamilyID)
		require.NoError(t, tk.rotate(r1.ID, now, r2))
		other := tk.issue()

		require.NoError(t, tk.store.RevokeFamily(t.Context(), r1.FamilyID))
		tk.assertRefresh(r1.ID, true, true)
		tk.assertRefresh(r2.ID, false, true)
		tk.assertAccess(r1.AccessTokenID, true)
		tk.assertAccess(r2.AccessTokenID, true)
		tk.assertRefresh(other.ID, false, false)
		tk.assertAccess(other.AccessTokenID, false)

		r3 := newRefresh(r1.FamilyID)
		err := tk.rotate(r2.ID, now, r3)
		assert.ErrorIs(t, err, repos.ErrTokenRevoked)
		tk.assertAccessAbsent(r3.AccessTokenID)
		tk.assertRefreshAbsent(r3.ID)

		assert.NoError(t, tk.store.RevokeFamily(t.Context(), r1.FamilyID), "again")
		assert.NoError(t, tk.store.RevokeFamily(t.Context(), "no-such-family"), "unknown family")
	})

	// A family is every token descended from one grant, however long the
	// chain of rotations: revoking it, or replaying any used member, reaches
	// the first and the live one alike, and no other family.
	t.Run("RevokeFamilyReachesWholeChain", func(t *testing.T) {
		replay := func(i int) func(tk *tokens, chain []repos.RefreshToken) error {
			return func(tk *tokens, c []repos.RefreshToken) error {
				err := tk.rotate(c[i].ID, now, newRefresh(c[i].FamilyID))
				if !errors.Is(err, repos.ErrTokenUsed) {
					return fmt.Errorf("replay got %v, want ErrTokenUsed", err)
				}
				return nil
			}
		}
		for _, tt := range []struct {
			name   string
			revoke func(tk *tokens, chain []repos.RefreshToken) error
		}{
			{"RevokeFamily", func(tk *tokens, c []repos.RefreshToken) error {
				return tk.store.RevokeFamily(tk.t.Context(), c[0].FamilyID)
			}},
			{"replay of the first", replay(0)},
			{"replay of one in the middle", replay(2)},
			{"replay of the last used", replay(3)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tk := newTokens(t, newBackend)
				chain := tk.chain(5)
				otherChain := tk.chain(3)

				require.NoError(t, tt.revoke(tk, chain))
				for i, r := range chain {
					tk.assertRefresh(r.ID, i < len(chain)-1, true)
					tk.assertAccess(r.AccessTokenID, true)
				}
				live := chain[len(chain)-1]
				err := tk.rotate(live.ID, now, newRefresh(live.FamilyID))
				assert.ErrorIs(t, err, repos.ErrTokenRevoked, "the live token is dead")
				for i, r := range otherChain {
					tk.assertRefresh(r.ID, i < len(otherChain)-1, false)
					tk.assertAccess(r.AccessTokenID, false)
				}
			})
		}
	})

	t.Run("FailedRotateLeavesTokenUnused", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		taken := tk.issue()
		r1 := tk.issue()

		// The successor's id collides: the consumption of r1 must be rolled
		// back, and the successor's access token not recorded.
		next := newRefresh(r1.FamilyID)
		next.ID = taken.ID
		require.ErrorIs(t, tk.rotate(r1.ID, now, next), repos.ErrDuplicate)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertAccessAbsent(next.AccessTokenID)

		// The successor's access token id collides: likewise, and the
		// successor itself is not recorded.
		clash := newRefresh(r1.FamilyID)
		clash.AccessTokenID = taken.AccessTokenID
		require.ErrorIs(t, tk.rotate(r1.ID, now, clash), repos.ErrDuplicate)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertRefreshAbsent(clash.ID)

		// A successor that records no access token is refused before r1 is
		// touched.
		blank := newRefresh(r1.FamilyID)
		blank.AccessTokenID = ""
		require.Error(t, tk.rotate(r1.ID, now, blank))
		tk.assertRefresh(r1.ID, false, false)
		tk.assertRefreshAbsent(blank.ID)

		// A successor of another family would escape this family's
		// revocation: refused, and nothing changes, in either family.
		stray := newRefresh(taken.FamilyID)
		err := tk.rotate(r1.ID, now, stray)
		require.Error(t, err)
		assert.NotErrorIs(t, err, repos.ErrTokenUsed)
		tk.assertRefresh(r1.ID, false, false)
		tk.assertRefreshAbsent(stray.ID)

		// A used token replayed with a successor of another family is still
		// not a reason to touch that other family.
		used := tk.chain(2)[0]
		require.Error(t, tk.rotate(used.ID, now, newRefresh(taken.FamilyID)))

		// The tokens collided with are untouched.
		tk.assertRefresh(taken.ID, false, false)
		tk.assertAccess(taken.AccessTokenID, false)

		r2 := newRefresh(r1.FamilyID)
		require.NoError(t, tk.rotate(r1.ID, now, r2), "the token still rotates")
		tk.assertAccess(r2.AccessTokenID, false)
	})

	t.Run("ConcurrentRotateHasOneWinner", func(t *testing.T) {
		tk := newTokens(t, newBackend)
		r1 := tk.issue()

		const n = 50
		nexts, errs := make([]repos.RefreshToken, n), make([]error, n)
		for i := range n {
			nexts[i] = newRefresh(r1.FamilyID)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = tk.rotate(r1.ID, now, nexts[i])
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

		// Only the winner's successor and its access token exist; the losers
		// replayed a used token, so the family is revoked.
		for i := range n {
			if i == winner {
				tk.assertRefresh(nexts[i].ID, false, true)
				tk.assertAccess(nexts[i].AccessTokenID, true)
				continue
			}
			tk.assertRefreshAbsent(nexts[i].ID)
			tk.assertAccessAbsent(nexts[i].AccessTokenID)
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
			setup: func(tk *tokens) (string, string) { r := tk.issue(); return r.ID, r.FamilyID },
			at:    now.Add(refreshTTL),
			want:  repos.ErrTokenExpired,
		}, {
			name:  "expired long ago",
			setup: func(tk *tokens) (string, string) { r := tk.issue(); return r.ID, r.FamilyID },
			at:    now.Add(365 * 24 * time.Hour),
			want:  repos.ErrTokenExpired,
		}, {
			name: "revoked",
			setup: func(tk *tokens) (string, string) {
				r := tk.issue()
				require.NoError(tk.t, tk.store.RevokeFamily(tk.t.Context(), r.FamilyID))
				return r.ID, r.FamilyID
			},
			at:      now,
			want:    repos.ErrTokenRevoked,
			revoked: true,
		}, {
			name: "revoked and expired",
			setup: func(tk *tokens) (string, string) {
				r := tk.issue()
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
				r := tk.issue()
				require.NoError(tk.t, tk.rotate(r.ID, now, newRefresh(r.FamilyID)))
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
				next := newRefresh(family)

				err := tk.rotate(id, tt.at, next)
				require.ErrorIs(t, err, tt.want)
				tk.assertAccessAbsent(next.AccessTokenID)
				tk.assertRefreshAbsent(next.ID)
				if !errors.Is(tt.want, repos.ErrNotFound) {
					tk.assertRefresh(id, tt.used, tt.revoked)
				}
			})
		}

		t.Run("usable until its expiry second", func(t *testing.T) {
			tk := newTokens(t, newBackend)
			r := tk.issue()
			at := now.Add(refreshTTL - time.Second)
			require.NoError(t, tk.rotate(r.ID, at, newRefresh(r.FamilyID)))
		})
	}
}

// rotate rotates oldID into next at the given time with no reuse interval,
// as the token endpoint does by default, and checks that a rotation that
// succeeds reports next as the successor it recorded.
func (tk *tokens) rotate(oldID string, at time.Time, next repos.RefreshToken) error {
	tk.t.Helper()
	got, err := tk.store.Rotate(tk.t.Context(), repos.Rotation{OldID: oldID, Now: at, Next: next})
	if err == nil {
		assert.Equal(tk.t, next, got, "a rotation reports the successor it recorded")
	}
	return err
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

// issue records a fresh grant: a refresh token of a new family, issued at
// now, and the access token issued with it.
func (tk *tokens) issue() repos.RefreshToken {
	tk.t.Helper()
	r := newRefresh(newID("family"))
	require.NoError(tk.t, tk.store.Issue(tk.t.Context(), r))
	return r
}

// chain records a fresh grant and rotates it n-1 times, returning the n
// tokens of the family, oldest first; only the last is unused.
func (tk *tokens) chain(n int) []repos.RefreshToken {
	tk.t.Helper()
	chain := []repos.RefreshToken{tk.issue()}
	for len(chain) < n {
		last := chain[len(chain)-1]
		next := newRefresh(last.FamilyID)
		require.NoError(tk.t, tk.rotate(last.ID, now, next))
		chain = append(chain, next)
	}
	return chain
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

// assertAccess checks the access token's revocation; one recorded with a
// refresh token always has a family.
func (tk *tokens) assertAccess(id string, wantRevoked bool) {
	tk.t.Helper()
	state, err := tk.store.AccessToken(tk.t.Context(), id)
	if assert.NoError(tk.t, err, "access token state") {
		assert.Equal(tk.t, wantRevoked, state.Revoked, "access token revoked")
		assert.NotEmpty(tk.t, state.FamilyID, "access token family")
	}
}

func (tk *tokens) assertAccessAbsent(id string) {
	tk.t.Helper()
	_, err := tk.store.AccessToken(tk.t.Context(), id)
	assert.ErrorIs(tk.t, err, repos.ErrNotFound, "access token must not be recorded")
}

// newRefresh returns a refresh token of the family for client "web" and user
// alice, issued at now, recording an access token of its own.
func newRefresh(family string) repos.RefreshToken {
	return repos.RefreshToken{
		ID: newID("rt"), FamilyID: family, ClientID: "web", UserID: "u-1001",
		Scopes: []string{"read", "write"}, ExpiresAt: now.Add(refreshTTL),
		AccessTokenID: newID("at"),
	}
}

// newID returns a unique id shaped like the real ones.
func newID(prefix string) string { return prefix + "-" + rand.Text() }
