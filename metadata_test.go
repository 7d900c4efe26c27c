package caddyoauth2

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyCatalog is a repository catalog that can be made to fail, and counts
// how often it is read.
type flakyCatalog struct {
	reads atomic.Int32
	down  atomic.Bool
}

var errRepositoryDown = errors.New("repository down")

func (f *flakyCatalog) ScopeIDs(context.Context) ([]string, error) {
	f.reads.Add(1)
	if f.down.Load() {
		return nil, errRepositoryDown
	}
	return []string{"read"}, nil
}

func (f *flakyCatalog) HasPublicClients(context.Context) (bool, error) {
	if f.down.Load() {
		return false, errRepositoryDown
	}
	return false, nil
}

func TestMetadataCache_RepositoryOutage(t *testing.T) {
	source := new(flakyCatalog)
	c := &metadataCache{issuer: "https://auth.example.com", paths: endpointPaths{token: "/oauth/token"}, source: source}
	c.docs.Store(&map[originKey]*builtMetadata{})
	r := httptest.NewRequest(http.MethodGet, "https://auth.example.com/.well-known/oauth-authorization-server", nil)

	source.down.Store(true)
	_, err := c.document(r, t0())
	require.ErrorIs(t, err, errRepositoryDown, "no catalog yet: the request gets the failure (a 503)")

	source.down.Store(false)
	first, err := c.document(r, t0())
	require.NoError(t, err)
	assert.Contains(t, string(first.body), `"scopes_supported":["read"]`)

	source.down.Store(true)
	reads := source.reads.Load()
	for i := range 100 {
		doc, err := c.document(r, t0().Add(catalogTTL+time.Duration(i)*time.Millisecond))
		require.NoError(t, err, "a repository that is down does not take the metadata with it")
		assert.Equal(t, first.body, doc.body)
	}
	assert.Equal(t, reads+1, source.reads.Load(), "and is asked once per catalogTTL, not per request")
}

func TestMetadataCache_ManyHostsCostNoRepositoryReads(t *testing.T) {
	source := new(flakyCatalog)
	c := &metadataCache{paths: endpointPaths{token: "/oauth/token"}, source: source}
	c.docs.Store(&map[originKey]*builtMetadata{})
	for i := range 100 {
		r := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil)
		r.Host = "auth.example.com:" + string(rune('0'+i%10)) + string(rune('0'+i/10))
		doc, err := c.document(r, t0())
		require.NoError(t, err)
		assert.Contains(t, string(doc.body), `"issuer":"http://`+r.Host+`"`)
	}
	assert.Equal(t, int32(1), source.reads.Load(), "one catalog for every origin")
	assert.LessOrEqual(t, len(*c.docs.Load()), maxMetadataOrigins)
}

// t0 is a fixed instant for the cache tests.
func t0() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

func (f *flakyCatalog) UserPasswordHash(context.Context) (string, error) { return "", nil }

// With no catalog read yet and the repository down, the metadata is a 503
// with Retry-After, answered and logged as every unavailable store is.
func TestServer_MetadataWhileTheRepositoryIsDown(t *testing.T) {
	h := provisionedServer(t)
	source := new(flakyCatalog)
	source.down.Store(true)
	h.metadata.source = source
	w, _ := serve(h, httptest.NewRequest(http.MethodGet, "http://auth.test/.well-known/oauth-authorization-server", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "5", w.Header().Get("Retry-After"))
	assert.Contains(t, w.Body.String(), "temporarily_unavailable")
}
