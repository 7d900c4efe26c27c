package caddyoauth2

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call sends a form to one of the server's endpoints with the given Basic
// credentials ("" for none) and returns the answer.
func call(h *ServerHandler, path string, form url.Values, user, pass string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "http://auth.test"+path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		r.SetBasicAuth(user, pass)
	}
	w, _ := serve(h, r)
	return w
}

// passwordTokens gets alice's tokens from h.
func passwordTokens(t *testing.T, h *ServerHandler) tokenResponse {
	t.Helper()
	w := call(h, "/oauth/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bench-secret"}},
		"bench", "bench-secret")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var tr tokenResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tr))
	return tr
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &m), w.Body.String())
	return m
}

func TestRevocationEndpoint(t *testing.T) {
	h := provisionedServer(t)
	tr := passwordTokens(t, h)

	w := call(h, "/oauth/revoke", url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"access_token"}}, "bench", "bench-secret")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "{}", w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	w = call(h, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}, "bench", "bench-secret")
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Equal(t, "invalid_grant", decode(t, w)["error"])

	w = call(h, "/oauth/revoke", url.Values{"token": {"unknown"}}, "bench", "bench-secret")
	assert.Equal(t, http.StatusOK, w.Code, "an unknown token needs no revoking")
}

func TestIntrospectionEndpoint(t *testing.T) {
	h := provisionedServer(t)
	tr := passwordTokens(t, h)

	w := call(h, "/oauth/introspect", url.Values{"token": {tr.AccessToken}}, "bench", "bench-secret")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	in := decode(t, w)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "Bearer", in["token_type"])
	assert.Equal(t, "alice", in["username"])
	assert.Equal(t, "u-1", in["sub"])
	assert.Equal(t, "bench", in["aud"], "one audience is a string, as in the token")
	assert.Equal(t, "http://auth.test", in["iss"])
	for _, claim := range []string{"exp", "iat", "nbf", "jti", "client_id", "scope"} {
		assert.Contains(t, in, claim)
	}

	w = call(h, "/oauth/introspect", url.Values{"token": {tr.RefreshToken}}, "bench", "bench-secret")
	in = decode(t, w)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "refresh_token", in["token_type"])

	w = call(h, "/oauth/introspect", url.Values{"token": {"garbage"}}, "bench", "bench-secret")
	assert.Equal(t, `{"active":false}`, w.Body.String())
}

// Both endpoints read requests by the token endpoint's rules.
func TestTokenQueryEndpoints_RequestRules(t *testing.T) {
	h := provisionedServer(t)
	for _, path := range []string{"/oauth/revoke", "/oauth/introspect"} {
		t.Run(path, func(t *testing.T) {
			get, _ := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test"+path, nil))
			assert.Equal(t, http.StatusMethodNotAllowed, get.Code)
			assert.Equal(t, http.MethodPost, get.Header().Get("Allow"))

			r := httptest.NewRequest(http.MethodPost, "http://auth.test"+path, strings.NewReader(`{"token":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			w, _ := serve(h, r)
			assert.Equal(t, http.StatusBadRequest, w.Code)
			assert.Equal(t, "invalid_request", decode(t, w)["error"])

			big := call(h, path, url.Values{"token": {strings.Repeat("a", maxBodySize)}}, "bench", "bench-secret")
			assert.Equal(t, http.StatusRequestEntityTooLarge, big.Code)

			twice := call(h, path, url.Values{"token": {"a", "b"}}, "bench", "bench-secret")
			assert.Equal(t, http.StatusBadRequest, twice.Code)
			assert.Contains(t, decode(t, twice)["hint"], "token")

			wrong := call(h, path, url.Values{"token": {"a"}}, "bench", "wrong")
			assert.Equal(t, http.StatusUnauthorized, wrong.Code)
			assert.Equal(t, "invalid_client", decode(t, wrong)["error"])
			assert.Equal(t, basicRealm, wrong.Header().Get("WWW-Authenticate"))

			body := call(h, path, url.Values{"token": {"a"}, "client_id": {"bench"}, "client_secret": {"wrong"}}, "", "")
			assert.Equal(t, http.StatusUnauthorized, body.Code)
			assert.Empty(t, body.Header().Get("WWW-Authenticate"), "no challenge to body credentials")

			missing := call(h, path, url.Values{}, "bench", "bench-secret")
			assert.Equal(t, http.StatusBadRequest, missing.Code)
			assert.Equal(t, "invalid_request", decode(t, missing)["error"])
		})
	}
}

// FuzzTokenQueryEndpoints sends arbitrary bodies to the revocation and
// introspection endpoints: every answer is JSON and none is a 500.
func FuzzTokenQueryEndpoints(f *testing.F) {
	h := provisionedServer(f)
	f.Add("token=abc", true)
	f.Add("token=a.b.c&token_type_hint=access_token", false)
	f.Add("token=eyJhbGciOiJFUzI1NiJ9.e30.AAAA&client_id=bench", true)
	f.Add("%zz", false)
	f.Fuzz(func(t *testing.T, body string, introspect bool) {
		path := "/oauth/revoke"
		if introspect {
			path = "/oauth/introspect"
		}
		r := httptest.NewRequest(http.MethodPost, "http://auth.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("bench", "bench-secret")
		w, _ := serve(h, r)
		require.Less(t, w.Code, 500, w.Body.String())
		require.True(t, json.Valid(w.Body.Bytes()), w.Body.String())
	})
}
