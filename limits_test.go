package caddyoauth2

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

func TestUnmarshalCaddyfile_Limits(t *testing.T) {
	var h TokenHandler
	require.NoError(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`oauth2_token {
		db_timeout 3s
		hash_concurrency 2
		secret_cache_size 500
		throttle {
			failures 3
			ip_failures 30
			window 2m
			lock 10m
		}
	}`)))
	assert.Equal(t, caddy.Duration(3*time.Second), h.DBTimeout)
	assert.Equal(t, 2, h.HashConcurrency)
	assert.Equal(t, 500, h.SecretCacheSize)
	assert.Equal(t, &ThrottleConfig{Failures: 3, IPFailures: 30, Window: caddy.Duration(2 * time.Minute),
		Lock: caddy.Duration(10 * time.Minute)}, h.Throttle)

	var off TokenHandler
	require.NoError(t, off.UnmarshalCaddyfile(caddyfile.NewTestDispenser("oauth2_token {\n\tthrottle off\n}")))
	assert.Equal(t, &ThrottleConfig{Off: true}, off.Throttle)

	for input, want := range map[string]string{
		"oauth2_token {\n\tthrottle sometimes\n}":                        "throttle",
		"oauth2_token {\n\tthrottle {\n\t\tfailures 0\n\t}\n}":           "failures",
		"oauth2_token {\n\tthrottle {\n\t\tbackoff 2\n\t}\n}":            "backoff",
		"oauth2_token {\n\tthrottle {\n\t\twindow never\n\t}\n}":         "window",
		"oauth2_token {\n\thash_concurrency none\n}":                     "hash_concurrency",
		"oauth2_token {\n\tsecret_cache_size -5\n}":                      "secret_cache_size",
		"oauth2_token {\n\tthrottle {\n\t\tlock 1m\n\t\tlock 2m\n\t}\n}": "more than once",
	} {
		var h TokenHandler
		assert.ErrorContains(t, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)), want, input)
	}
}

func TestProvision_LimitErrorsNameTheSubdirective(t *testing.T) {
	for _, tt := range []struct {
		change func(*TokenHandler)
		want   string
	}{
		{func(h *TokenHandler) { h.HashConcurrency = -1 }, "hash_concurrency: must be at least 1"},
		{func(h *TokenHandler) { h.SecretCacheSize = -1 }, "secret_cache_size: must be at least 1"},
		{func(h *TokenHandler) { h.DBTimeout = caddy.Duration(time.Millisecond) }, "db_timeout: must be at least 100ms"},
		{func(h *TokenHandler) { h.Throttle = &ThrottleConfig{Failures: -2} }, "throttle: "},
	} {
		config := handlerConfig(t)
		tt.change(&config)
		_, err := loadHandler(t, config)
		assert.ErrorContains(t, err, tt.want)
	}
}

// The secret cache, the hashing slots and the throttle outlive a reload:
// the configs before and after one share them.
func TestLimits_SharedAcrossReloads(t *testing.T) {
	config := handlerConfig(t)
	config.SecretCacheSize = 10007 // a cache no other test shares
	before, err := loadHandler(t, config)
	require.NoError(t, err)
	after, err := loadHandler(t, config)
	require.NoError(t, err)
	assert.Same(t, before.limits.cache, after.limits.cache)
	assert.Same(t, before.limits.slots, after.limits.slots)
	assert.Same(t, before.limits.throttle, after.limits.throttle)

	// A secret verified before the reload is remembered after it.
	w := post(before, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NoError(t, before.Cleanup())
	assert.Equal(t, 1, after.limits.cache.Len(secrets.Client))

	config.SecretCacheSize = 7
	other, err := loadHandler(t, config)
	require.NoError(t, err)
	assert.NotSame(t, after.limits.cache, other.limits.cache, "another size is another cache")
	assert.Equal(t, 7, other.limits.cache.Size())
}

func TestHandler_LockoutIs429WithRetryAfter(t *testing.T) {
	config := handlerConfig(t)
	config.Throttle = &ThrottleConfig{Failures: 3, IPFailures: 11, Lock: caddy.Duration(90 * time.Second)} // this test's own
	h, err := loadHandler(t, config)
	require.NoError(t, err)
	from := func(addr, secret string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://auth.test/oauth/token", strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("bench", secret)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		require.NoError(t, h.ServeHTTP(w, r, nil))
		return w
	}
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, from("192.0.2.7:1000", "wrong").Code)
	}
	w := from("192.0.2.7:1001", "bench-secret")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "90", w.Header().Get("Retry-After"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "temporarily_unavailable", body["error"])
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	assert.Equal(t, http.StatusOK, from("192.0.2.8:1000", "bench-secret").Code, "another address is not locked")
}

// A body that trickles in gets 408 once bodyTimeout has passed, and the
// connection is closed: a slow sender cannot hold it open.
func TestHandler_SlowBodyIs408(t *testing.T) {
	defer func(d time.Duration) { bodyTimeout = d }(bodyTimeout)
	bodyTimeout = 300 * time.Millisecond
	h := provisionedHandler(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = h.ServeHTTP(w, r, nil) }))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /oauth/token HTTP/1.1\r\nHost: auth.test\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.True(t, resp.Close, "the connection is closed")
}
