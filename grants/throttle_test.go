package grants_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/throttle"
)

func withThrottle(c *grants.Config) {
	c.Throttle = throttle.New(throttle.Config{Failures: 3, IPFailures: 10, Window: time.Minute, Lock: 5 * time.Minute})
}

// passwordFrom is a password grant for username by web, from ip.
func passwordFrom(ip, username, password string) grants.Request {
	return grants.Request{GrantType: repos.GrantPassword, ClientID: "web", ClientSecret: webSecret,
		Username: username, Password: password, ClientIP: ip, Scope: "read"}
}

func wantThrottled(t *testing.T, oerr *grants.Error) {
	t.Helper()
	require.NotNil(t, oerr)
	assert.Equal(t, 429, oerr.Status)
	assert.Equal(t, grants.CodeTemporarilyUnavailable, oerr.Code)
	assert.Positive(t, oerr.RetryAfter)
}

func TestThrottle_WrongPasswordsLockTheUserAtThatAddress(t *testing.T) {
	e := newEnv(t, withThrottle)
	e.mustToken(t, passwordFrom("10.0.0.1", "bob", bobPassword)) // bob's password is remembered
	for range 3 {
		_, oerr := e.token(t, passwordFrom("10.0.0.1", "alice", "wrong"))
		wantError(t, oerr, grants.CodeInvalidGrant, "")
	}
	compared := len(e.comparer.compared())

	_, oerr := e.token(t, passwordFrom("10.0.0.1", "alice", alicePassword))
	wantThrottled(t, oerr)
	assert.Len(t, e.comparer.compared(), compared, "a locked attempt computes no hash, right password or not")

	e.mustToken(t, passwordFrom("10.0.0.2", "alice", alicePassword)) // another address is not locked

	e.clock.Advance(5 * time.Minute)
	e.mustToken(t, passwordFrom("10.0.0.1", "alice", alicePassword)) // the lock ends
}

// An unknown username locks like a known one: a lock must not tell which
// usernames exist.
func TestThrottle_UnknownUsernamesLockAlike(t *testing.T) {
	e := newEnv(t, withThrottle)
	for range 3 {
		_, oerr := e.token(t, passwordFrom("10.0.0.1", "mallory", "guess"))
		wantError(t, oerr, grants.CodeInvalidGrant, "")
	}
	_, oerr := e.token(t, passwordFrom("10.0.0.1", "mallory", "guess"))
	wantThrottled(t, oerr)
}

func TestThrottle_ARememberedSecretPassesALock(t *testing.T) {
	e := newEnv(t, withThrottle)
	good := grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: svcSecret, ClientIP: "10.0.0.1"}
	e.mustToken(t, good)
	for range 3 {
		_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: "guess", ClientIP: "10.0.0.1"})
		wantError(t, oerr, grants.CodeInvalidClient, "")
	}
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: "guess", ClientIP: "10.0.0.1"})
	wantThrottled(t, oerr)
	e.mustToken(t, good) // the client that authenticated before the lock is not shut out
}

func TestThrottle_AnAddressGuessingClientIDs(t *testing.T) {
	e := newEnv(t, withThrottle)
	for range 10 {
		_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "nobody", ClientSecret: "x", ClientIP: "10.0.0.9"})
		wantError(t, oerr, grants.CodeInvalidClient, "")
	}
	assert.Empty(t, e.comparer.compared(), "unknown ids cost no hash")
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: svcSecret, ClientIP: "10.0.0.9"})
	wantThrottled(t, oerr)
}

// blockingComparer holds every comparison until released.
type blockingComparer struct{ release chan struct{} }

func (b blockingComparer) Compare(_, _ []byte) (bool, error) {
	<-b.release
	return false, nil
}

func TestThrottle_BusyHashingIs429(t *testing.T) {
	block := blockingComparer{release: make(chan struct{})}
	e := newEnv(t, func(c *grants.Config) {
		c.Secrets = secrets.New(secrets.Options{Bcrypt: block, Slots: secrets.NewSlots(1), Wait: 20 * time.Millisecond})
	})
	done := make(chan struct{})
	go func() {
		_, _ = e.server.Token(context.Background(), &grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "web", ClientSecret: "a"})
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	_, oerr := e.token(t, grants.Request{GrantType: repos.GrantClientCredentials, ClientID: "svc", ClientSecret: "b"})
	wantThrottled(t, oerr)
	close(block.release)
	<-done
}

// slowStore answers every rotation late, as a database frozen or locked
// does, unless the request's context ends first.
type slowStore struct {
	repos.TokenStore
	delay time.Duration
}

func (s slowStore) Rotate(ctx context.Context, r repos.Rotation) (repos.RefreshToken, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return repos.RefreshToken{}, fmt.Errorf("%w: %w", repos.ErrUnavailable, ctx.Err())
	}
	return s.TokenStore.Rotate(ctx, r)
}

func TestRequestTimeout_ASlowStoreIs503AtTheDeadline(t *testing.T) {
	e := newEnv(t)
	first := e.login(t, "read")
	server, err := grants.NewServer(grants.Config{
		AccessTokenTTL: accessTTL, RefreshTokenTTL: refreshTTL, Grants: []string{repos.GrantRefreshToken, repos.GrantPassword},
		Keys: e.keys(), Sealer: e.sealer, Definitions: e.store, Tokens: slowStore{TokenStore: e.store, delay: time.Minute},
		Secrets: secretsFor(e), Now: e.clock.Now, RequestTimeout: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	start := time.Now()
	req := refresh(first.RefreshToken, "")
	req.Issuer = issuerOrigin
	_, terr := server.Token(context.Background(), &req)
	var oerr *grants.Error
	require.ErrorAs(t, terr, &oerr)
	assert.Equal(t, 503, oerr.Status)
	assert.Equal(t, grants.CodeTemporarilyUnavailable, oerr.Code)
	assert.Less(t, time.Since(start), time.Second, "answered at the deadline, not when the store is back")
	used, _ := e.refreshState(t, first.RefreshToken)
	assert.False(t, used, "and the token is not consumed")
}
