package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
	"github.com/caddy-oauth2/caddy-oauth2/throttle"
)

// The throttle's account kinds: a client and a user of one name are apart.
const (
	clientAccount byte = iota
	userAccount
)

// authenticateClient identifies the client and, for a confidential one, checks
// its secret (RFC 6749 §2.3.1). A public client's secret, if sent, is ignored,
// as league does since 9.2.
//
// An unknown client id is refused without a hash: a client id is not a
// secret (RFC 6749 §2.2), and hashing for it would hand whoever sends random
// ids our CPU. Its failure counts against the address. A remembered secret
// is accepted whatever the throttle says, so that a lock never shuts out a
// client that authenticated before it; any other is refused with 429 while
// the client at that address, or the address, is locked, before a hash is
// computed.
func (s *Server) authenticateClient(ctx context.Context, id, secret, ip string) (*repos.Client, *Error) {
	if id == "" {
		return nil, InvalidClient()
	}
	client, err := s.cfg.Definitions.Client(ctx, id)
	if errors.Is(err, repos.ErrNotFound) {
		s.failedAddress(ip)
		return nil, withReason(InvalidClient(), ReasonUnknownClient)
	}
	if err != nil {
		// The repository did not answer: not an unknown client, and not
		// the client's fault (DESIGN.md §6a).
		return nil, TemporarilyUnavailable(fmt.Errorf("looking up the client: %w", err))
	}
	if !client.Confidential() {
		return client, nil
	}
	account := throttle.Account{Kind: clientAccount, ID: id}
	if secret == "" {
		s.failed(account, ip)
		return nil, withReason(InvalidClient(), ReasonMissingSecret)
	}
	if s.cfg.Secrets.Cached(secrets.Client, client.SecretHash, secret) {
		return client, nil
	}
	if oerr := s.throttled(account, ip); oerr != nil {
		return nil, oerr
	}
	ok, err := s.cfg.Secrets.Verify(ctx, secrets.Client, client.SecretHash, secret)
	if err != nil {
		return nil, hashingError(err)
	}
	if !ok {
		s.failed(account, ip)
		return nil, withReason(InvalidClient(), ReasonWrongSecret)
	}
	s.succeeded(account, ip)
	return client, nil
}

// authenticateUser checks the resource owner's credentials. An unknown user
// pays one hash comparison, with the users' hash parameters, like a known
// one; both failures count against the username at that address, and give
// the same hintless error, so neither the answer, its timing nor a lock
// tells which usernames exist.
func (s *Server) authenticateUser(ctx context.Context, username, password, ip string) (*repos.User, *Error) {
	user, err := s.cfg.Definitions.UserByUsername(ctx, username)
	if err != nil && !errors.Is(err, repos.ErrNotFound) {
		return nil, TemporarilyUnavailable(fmt.Errorf("looking up the user: %w", err))
	}
	if user != nil && s.cfg.Secrets.Cached(secrets.User, user.PasswordHash, password) {
		return user, nil
	}
	account := throttle.Account{Kind: userAccount, ID: username}
	if oerr := s.throttled(account, ip); oerr != nil {
		return nil, oerr
	}
	ok := false
	if user == nil {
		err = s.cfg.Secrets.Fake(ctx, secrets.User, password)
	} else {
		ok, err = s.cfg.Secrets.Verify(ctx, secrets.User, user.PasswordHash, password)
	}
	if err != nil {
		return nil, hashingError(err)
	}
	if !ok {
		s.failed(account, ip)
		if user == nil {
			return nil, withReason(InvalidCredentials(), ReasonUnknownUser)
		}
		return nil, withReason(InvalidCredentials(), ReasonWrongPassword)
	}
	s.succeeded(account, ip)
	return user, nil
}

// throttled is the 429 for an account or address that is locked, nil when
// neither is (or throttling is off).
func (s *Server) throttled(a throttle.Account, ip string) *Error {
	if s.cfg.Throttle == nil {
		return nil
	}
	if retry, locked := s.cfg.Throttle.Locked(a, ip, s.now()); locked {
		return TooManyAttempts(retry, ReasonLocked)
	}
	return nil
}

func (s *Server) failed(a throttle.Account, ip string) {
	if s.cfg.Throttle != nil && s.cfg.Throttle.Failed(a, ip, s.now()) && s.cfg.OnLockout != nil {
		s.cfg.OnLockout(Lockout{User: a.Kind == userAccount, ID: a.ID, ClientIP: ip})
	}
}

func (s *Server) failedAddress(ip string) {
	if s.cfg.Throttle != nil && s.cfg.Throttle.FailedIP(ip, s.now()) && s.cfg.OnLockout != nil {
		s.cfg.OnLockout(Lockout{ClientIP: ip})
	}
}

// Lockout is a failed authentication that locked its account at an address,
// or the address, for the operator to hear about.
type Lockout struct {
	// User is whether ID is a username rather than a client id.
	User bool
	// ID is the client id or username; empty when the address was locked
	// for failures with unknown client ids.
	ID       string
	ClientIP string
}

func (s *Server) succeeded(a throttle.Account, ip string) {
	if s.cfg.Throttle != nil {
		s.cfg.Throttle.Succeeded(a, ip)
	}
}

// busyRetryAfter is the Retry-After of a request that found every hashing
// slot taken: hashing frees a slot within a second or so.
const busyRetryAfter = time.Second

// hashingError is the answer to a check that could not run: every hashing
// slot was taken (429), or the request ended while it waited.
func hashingError(err error) *Error {
	if errors.Is(err, secrets.ErrBusy) {
		return TooManyAttempts(busyRetryAfter, ReasonBusy)
	}
	return TemporarilyUnavailable(fmt.Errorf("checking a secret: %w", err))
}
