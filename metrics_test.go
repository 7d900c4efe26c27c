package caddyoauth2

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics_CountWhatOperatorsWatch(t *testing.T) {
	h := provisionedHandler(t)
	m := h.metrics
	require.Equal(t, http.StatusOK, post(h, url.Values{"grant_type": {"client_credentials"}}).Code)
	w := post(h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bench-secret"}})
	require.Equal(t, http.StatusOK, w.Code)
	var tr tokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tr))
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
	require.Equal(t, http.StatusOK, post(h, refresh).Code)
	require.Equal(t, http.StatusBadRequest, post(h, refresh).Code) // a replay
	require.Equal(t, http.StatusBadRequest, post(h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}).Code)

	assert.Equal(t, 1.0, testutil.ToFloat64(m.issued.WithLabelValues("client_credentials")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.issued.WithLabelValues("password")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.issued.WithLabelValues("refresh_token")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.replays))
	assert.Equal(t, 2.0, testutil.ToFloat64(m.refused.WithLabelValues("token", "refresh_token", "invalid_grant"))+
		testutil.ToFloat64(m.refused.WithLabelValues("token", "password", "invalid_grant")))
	timed := func(op string) uint64 {
		var metric dto.Metric
		require.NoError(t, m.storeSeconds.WithLabelValues(op).(prometheus.Metric).Write(&metric))
		return metric.GetHistogram().GetSampleCount()
	}
	assert.Equal(t, uint64(1), timed("issue"), "the password grant's issue was timed")
	assert.Equal(t, uint64(2), timed("rotate"), "the refresh and the replay were timed")
	assert.Zero(t, timed("revoke_family"))
	for _, op := range []string{"issue", "rotate", "revoke_family", "refresh_token_state", "access_token_state", "deny_access_token"} {
		assert.Zero(t, testutil.ToFloat64(m.storeErrors.WithLabelValues(op)), "%s: a replay is a refusal, not a store failure", op)
	}

	// A grant type no one knows adds no label value.
	post(h, url.Values{"grant_type": {strings.Repeat("x", 100)}})
	assert.Equal(t, 1.0, testutil.ToFloat64(m.refused.WithLabelValues("token", "other", "unsupported_grant_type")))
}

func TestMetrics_RegisteredOncePerConfig(t *testing.T) {
	registry := prometheus.NewPedanticRegistry()
	a, b := newMetrics(registry), newMetrics(registry)
	assert.Same(t, a.issued, b.issued, "a second handler of the config shares the first's")
	families, err := registry.Gather()
	require.NoError(t, err)
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				assert.NotContains(t, []string{"client_id", "username"}, l.GetName())
			}
		}
	}
	assert.Contains(t, names, "caddy_oauth2_hash_checks_running")
	assert.Contains(t, names, "caddy_oauth2_hash_checks_waiting")
}
