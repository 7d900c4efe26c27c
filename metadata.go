package caddyoauth2

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// metadataTTL is how long a built metadata document is served before it is
// built again, so that a scope or a public client added to the repository
// shows within a minute while a request costs what a static file does.
const metadataTTL = time.Minute

// maxMetadataIssuers bounds the documents kept for a server without a
// configured issuer, whose issuer is each request's origin: the Host header
// is the client's to choose, and must not grow the cache without end.
const maxMetadataIssuers = 16

// metadataTimeout bounds the repository reads of one build.
const metadataTimeout = 5 * time.Second

// metadata is the authorization server metadata document (RFC 8414 §2).
type metadata struct {
	Issuer                                    string   `json:"issuer"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ScopesSupported                           []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
}

// metadataCache builds the metadata document of each issuer and keeps it
// for metadataTTL.
type metadataCache struct {
	issuer  string // configured; "" when it is the request's origin
	grants  []string
	paths   endpointPaths
	catalog repos.Catalog // nil when the repository cannot list

	mu      sync.Mutex // serialises builds and additions to docs
	docs    sync.Map   // issuer → *atomic.Pointer[builtMetadata]
	entries int
}

// builtMetadata is one issuer's document and when it was built.
type builtMetadata struct {
	body    []byte
	builtAt time.Time
}

func newMetadataCache(cfg *settings, paths endpointPaths, defs repos.Definitions) *metadataCache {
	catalog, _ := defs.(repos.Catalog)
	return &metadataCache{issuer: cfg.issuer, grants: cfg.grants, paths: paths, catalog: catalog}
}

// serveMetadata answers the metadata path.
func (h *ServerHandler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	issuer := h.metadata.issuer
	if issuer == "" {
		issuer = requestOrigin(r)
	}
	body, err := h.metadata.document(r.Context(), issuer, time.Now())
	if err != nil {
		h.logger.Error("building the server metadata", zap.Error(err))
		writeError503(w)
		return
	}
	servePublicDocument(w, r, body)
}

// document returns the issuer's document, built at most metadataTTL ago.
// When a rebuild fails, the document built before is served: a repository
// that is down must not take the metadata with it.
func (c *metadataCache) document(ctx context.Context, issuer string, now time.Time) ([]byte, error) {
	slot, _ := c.docs.Load(issuer)
	var cached *builtMetadata
	if slot != nil {
		cached = slot.(*atomic.Pointer[builtMetadata]).Load()
		if now.Sub(cached.builtAt) < metadataTTL {
			return cached.body, nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Another request may have rebuilt it while this one waited.
	if slot, _ := c.docs.Load(issuer); slot != nil {
		if again := slot.(*atomic.Pointer[builtMetadata]).Load(); now.Sub(again.builtAt) < metadataTTL {
			return again.body, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metadataTimeout)
	defer cancel()
	body, err := c.build(ctx, issuer)
	if err != nil {
		if cached != nil {
			return cached.body, nil
		}
		return nil, err
	}
	built := &builtMetadata{body: body, builtAt: now}
	if slot != nil {
		slot.(*atomic.Pointer[builtMetadata]).Store(built)
	} else if c.entries < maxMetadataIssuers {
		p := new(atomic.Pointer[builtMetadata])
		p.Store(built)
		c.docs.Store(issuer, p)
		c.entries++
	}
	return body, nil
}

// build makes the document of issuer: endpoint URLs on the issuer's origin,
// and what the repository offers now.
func (c *metadataCache) build(ctx context.Context, issuer string) ([]byte, error) {
	origin := issuer
	if u, err := url.Parse(issuer); err == nil {
		origin = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	confidentialAuth := []string{"client_secret_basic", "client_secret_post"}
	clientAuth := confidentialAuth
	md := metadata{
		Issuer:                 issuer,
		TokenEndpoint:          origin + c.paths.token,
		JWKSURI:                origin + c.paths.jwks,
		RevocationEndpoint:     origin + c.paths.revoke,
		IntrospectionEndpoint:  origin + c.paths.introspect,
		GrantTypesSupported:    c.grants,
		ResponseTypesSupported: []string{},
		ScopesSupported:        []string{},
		// Introspection is for confidential clients only (RFC 7662 §2.1).
		IntrospectionEndpointAuthMethodsSupported: confidentialAuth,
	}
	if c.catalog != nil {
		scopes, err := c.catalog.ScopeIDs(ctx)
		if err != nil {
			return nil, err
		}
		md.ScopesSupported = scopes
		public, err := c.catalog.HasPublicClients(ctx)
		if err != nil {
			return nil, err
		}
		if public {
			clientAuth = []string{"client_secret_basic", "client_secret_post", "none"}
		}
	}
	md.TokenEndpointAuthMethodsSupported = clientAuth
	md.RevocationEndpointAuthMethodsSupported = clientAuth
	return json.Marshal(md)
}

// writeError503 answers that the server cannot answer now, but may soon.
func writeError503(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	writeJSON(w, http.StatusServiceUnavailable, errorResponse{
		Error: "temporarily_unavailable", ErrorDescription: "The server is temporarily unable to answer; retry shortly."})
}
