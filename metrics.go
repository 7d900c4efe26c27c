package caddyoauth2

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

// metrics are the server's Prometheus metrics, in the registry of the
// config (Caddy's admin /metrics shows them). They carry no client id or
// username: a label per client would grow without bound with the ids
// attackers send.
type metrics struct {
	issued *prometheus.CounterVec
	// issuedBy is issued's counter of each grant, looked up once here
	// rather than by label on every token request.
	issuedBy     map[string]prometheus.Counter
	refused      *prometheus.CounterVec
	replays      prometheus.Counter
	throttled    *prometheus.CounterVec
	storeSeconds *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
}

// newMetrics registers the metrics in registry, or takes the ones another
// oauth2 handler of the config registered.
func newMetrics(registry *prometheus.Registry) *metrics {
	const ns, sub = "caddy", "oauth2"
	m := &metrics{
		issued: register(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "tokens_issued_total",
			Help: "Token responses, by grant type.",
		}, []string{"grant"})),
		refused: register(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_refused_total",
			Help: "OAuth error answers, by endpoint, grant type (token endpoint only) and error code.",
		}, []string{"endpoint", "grant", "error"})),
		replays: register(registry, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "refresh_replays_total",
			Help: "Refresh tokens presented again after use; each revoked its family.",
		})),
		throttled: register(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_throttled_total",
			Help: "Requests answered 429: locked after failed attempts, or every hashing slot busy.",
		}, []string{"reason"})),
		storeSeconds: register(registry, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "token_store_seconds",
			Help:    "Latency of token store operations.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"})),
		storeErrors: register(registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "token_store_errors_total",
			Help: "Token store operations that failed (refusals such as a used token are not failures).",
		}, []string{"op"})),
	}
	m.issuedBy = make(map[string]prometheus.Counter)
	for _, g := range append(repos.GrantTypes(), "other") {
		m.issuedBy[g] = m.issued.WithLabelValues(g)
	}
	register(registry, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "hash_checks_running",
		Help: "Password-hash checks running now in the process.",
	}, func() float64 { return float64(secrets.Running()) }))
	register(registry, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "hash_checks_waiting",
		Help: "Password-hash checks waiting for a slot now in the process.",
	}, func() float64 { return float64(secrets.Waiting()) }))
	return m
}

// issuedFor is the counter of tokens issued by grantType.
func (m *metrics) issuedFor(grantType string) prometheus.Counter {
	return m.issuedBy[grantLabel(grantType)]
}

// register registers c, or returns the collector already registered under
// its name: every oauth2 handler of a config shares one set.
func register[C prometheus.Collector](registry *prometheus.Registry, c C) C {
	if err := registry.Register(c); err != nil {
		var exists prometheus.AlreadyRegisteredError
		if errors.As(err, &exists) {
			return exists.ExistingCollector.(C)
		}
		// Only a malformed metric is refused otherwise: a bug.
		panic(err)
	}
	return c
}

// instrumentedStore times every token store operation and counts its
// failures. The metric of each operation is looked up once, when the store
// is wrapped, not on every request.
type instrumentedStore struct {
	repos.TokenStore
	issue, rotate, revokeFamily, refreshState, accessState, denyAccess storeOp
}

// storeOp is the metrics of one token store operation.
type storeOp struct {
	seconds prometheus.Observer
	errors  prometheus.Counter
}

func newInstrumentedStore(store repos.TokenStore, m *metrics) instrumentedStore {
	op := func(name string) storeOp {
		return storeOp{seconds: m.storeSeconds.WithLabelValues(name), errors: m.storeErrors.WithLabelValues(name)}
	}
	return instrumentedStore{TokenStore: store, issue: op("issue"), rotate: op("rotate"), revokeFamily: op("revoke_family"),
		refreshState: op("refresh_token_state"), accessState: op("access_token_state"), denyAccess: op("deny_access_token")}
}

// observe records one operation that started at start and ended with err.
func (o storeOp) observe(start time.Time, err error) {
	o.seconds.Observe(time.Since(start).Seconds())
	if err != nil && !isRefusal(err) {
		o.errors.Inc()
	}
}

// isRefusal tells the store's answers about a token (unknown, used,
// revoked, expired, a taken id) from failures of the store.
func isRefusal(err error) bool {
	for _, sentinel := range []error{repos.ErrNotFound, repos.ErrTokenUsed, repos.ErrTokenRevoked, repos.ErrTokenExpired, repos.ErrDuplicate} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}

func (s instrumentedStore) Issue(ctx context.Context, t repos.RefreshToken) error {
	start := time.Now()
	err := s.TokenStore.Issue(ctx, t)
	s.issue.observe(start, err)
	return err
}

func (s instrumentedStore) Rotate(ctx context.Context, r repos.Rotation) (repos.RefreshToken, error) {
	start := time.Now()
	next, err := s.TokenStore.Rotate(ctx, r)
	s.rotate.observe(start, err)
	return next, err
}

func (s instrumentedStore) RevokeFamily(ctx context.Context, familyID string) error {
	start := time.Now()
	err := s.TokenStore.RevokeFamily(ctx, familyID)
	s.revokeFamily.observe(start, err)
	return err
}

func (s instrumentedStore) RefreshTokenState(ctx context.Context, id string) (bool, bool, error) {
	start := time.Now()
	used, revoked, err := s.TokenStore.RefreshTokenState(ctx, id)
	s.refreshState.observe(start, err)
	return used, revoked, err
}

func (s instrumentedStore) AccessToken(ctx context.Context, jti string) (repos.AccessTokenState, error) {
	start := time.Now()
	state, err := s.TokenStore.AccessToken(ctx, jti)
	s.accessState.observe(start, err)
	return state, err
}

func (s instrumentedStore) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	start := time.Now()
	err := s.TokenStore.DenyAccessToken(ctx, jti, expiresAt)
	s.denyAccess.observe(start, err)
	return err
}
