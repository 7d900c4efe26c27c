package caddyoauth2

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkTokenEndpoint measures the handler from HTTP request to JSON answer,
// without Caddy's server around it (internal/loadtest measures that).
func BenchmarkTokenEndpoint(b *testing.B) {
	h := provisionedHandler(b)

	b.Run("client_credentials", func(b *testing.B) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
		for b.Loop() {
			if w := post(h, form); w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})

	b.Run("refresh", func(b *testing.B) {
		var rt struct {
			RefreshToken string `json:"refresh_token"`
		}
		w := post(h, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"bench-secret"}})
		require.NoError(b, json.Unmarshal(w.Body.Bytes(), &rt))
		for b.Loop() {
			w := post(h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.RefreshToken}})
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			require.NoError(b, json.Unmarshal(w.Body.Bytes(), &rt))
		}
	})
}

// The handler provisioned outside a server answers like the integration tests
// expect; this keeps the benchmark honest.
func TestProvisionedHandler_AnswersTokenRequests(t *testing.T) {
	h := provisionedHandler(t)
	w := post(h, url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, "Bearer", body["token_type"])
}
