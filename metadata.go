package caddyoauth2

import (
	"context"
	"encoding/json"
	"maps"
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
// for metadataTTL. Lookups read an immutable map through one atomic load, so
// that serving a cached document takes no lock and allocates nothing.
type metadataCache struct {
	issuer  string // configured; "" when it is the request's origin
	grants  []string
	paths   endpointPaths
	catalog repos.Catalog // nil when the repository cannot list

	mu   sync.Mutex // serialises builds and the copies of docs they make
	docs atomic.Pointer[map[originKey]*builtMetadata]
}

// originKey names the origin a document was built for: the request's scheme
// and Host without a configured issuer, the zero key with one.
type originKey struct {
	tls  bool
	host string
}

// builtMetadata is one issuer's document and when it was built.
type builtMetadata struct {
	doc     *publicDocument
	builtAt time.Time
}

func newMetadataCache(cfg *settings, paths endpointPaths, defs repos.Definitions) *metadataCache {
	catalog, _ := defs.(repos.Catalog)
	c := &metadataCache{issuer: cfg.issuer, grants: cfg.grants, paths: paths, catalog: catalog}
	c.docs.Store(&map[originKey]*builtMetadata{})
	return c
}

// serveMetadata answers the metadata path.
func (h *ServerHandler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	doc, err := h.metadata.document(r, time.Now())
	if err != nil {
		h.logger.Error("building the server metadata", zap.Error(err))
		writeError503(w)
		return
	}
	servePublicDocument(w, r, doc)
}

// document returns the document for r's issuer, built at most metadataTTL
// ago. When a rebuild fails, the document built before is served: a
// repository that is down must not take the metadata with it.
func (c *metadataCache) document(r *http.Request, now time.Time) (*publicDocument, error) {
	var key originKey
	if c.issuer == "" {
		key = originKey{tls: r.TLS != nil, host: r.Host}
	}
	cached := (*c.docs.Load())[key]
	if cached != nil && now.Sub(cached.builtAt) < metadataTTL {
		return cached.doc, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	docs := *c.docs.Load()
	// Another request may have rebuilt it while this one waited.
	if again := docs[key]; again != nil && now.Sub(again.builtAt) < metadataTTL {
		return again.doc, nil
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = requestOrigin(r)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), metadataTimeout)
	defer cancel()
	body, err := c.build(ctx, issuer)
	if err != nil {
		if cached != nil {
			return cached.doc, nil
		}
		return nil, err
	}
	built := &builtMetadata{doc: newPublicDocument(body), builtAt: now}
	if _, known := docs[key]; known || len(docs) < maxMetadataIssuers {
		next := make(map[originKey]*builtMetadata, len(docs)+1)
		maps.Copy(next, docs)
		next[key] = built
		c.docs.Store(&next)
	}
	return built.doc, nil
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
