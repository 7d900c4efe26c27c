package caddyoauth2

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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

// BenchmarkPublicDocuments compares the key set and the metadata with
// Caddy's static respond handler answering "ok", in one process: what the
// server adds to serving bytes, free of the load test's machine noise.
func BenchmarkPublicDocuments(b *testing.B) {
	h := provisionedServer(b)
	static := caddyhttp.StaticResponse{Body: "ok", StatusCode: caddyhttp.WeakString("200")}
	run := func(b *testing.B, path string, serve func(w http.ResponseWriter, r *http.Request) error) {
		r := httptest.NewRequest(http.MethodGet, "http://auth.test"+path, nil)
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			if err := serve(w, r); err != nil || w.Code != http.StatusOK {
				b.Fatalf("status %d, %v", w.Code, err)
			}
		}
	}
	var next caddyhttp.Handler = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	b.Run("static respond", func(b *testing.B) {
		run(b, "/static", func(w http.ResponseWriter, r *http.Request) error { return static.ServeHTTP(w, r, next) })
	})
	b.Run("jwks", func(b *testing.B) {
		run(b, "/oauth/jwks.json", func(w http.ResponseWriter, r *http.Request) error { return h.ServeHTTP(w, r, next) })
	})
	b.Run("metadata", func(b *testing.B) {
		run(b, "/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) error {
			return h.ServeHTTP(w, r, next)
		})
	})
}
