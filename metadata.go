package caddyoauth2

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// catalogTTL is how long what the metadata takes from the repository (the
// scopes, whether public clients exist) is used before it is read again, so
// that a scope or a public client added to the repository shows within a
// minute while a request costs what a static file does.
const catalogTTL = time.Minute

// maxMetadataOrigins bounds the documents kept for a server without a
// configured issuer, whose issuer is each request's origin: the Host header
// is the client's to choose, and must not grow the cache without end. The
// documents of further origins are made per request, without I/O.
const maxMetadataOrigins = 16

// catalogTimeout bounds the repository reads of one catalog refresh.
const catalogTimeout = 5 * time.Second

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

// metadataCache makes the metadata documents. What they take from the
// repository is read at most once per catalogTTL, by one request at a time
// while the others serve the documents made before; each origin's document
// is kept until the catalog changes. Lookups read immutable values through
// atomic loads, so serving a kept document takes no lock and allocates
// nothing.
type metadataCache struct {
	issuer  string // configured; "" when it is the request's origin
	grants  []string
	paths   endpointPaths
	source  repos.Catalog // nil when the repository cannot list
	catalog atomic.Pointer[catalog]
	// refreshing lets one request read the repository; others go on with
	// the catalog they have.
	refreshing sync.Mutex

	mu   sync.Mutex // serialises the copies of docs
	docs atomic.Pointer[map[originKey]*builtMetadata]
}

// catalog is what the metadata takes from the repository, and when.
type catalog struct {
	scopes []string
	public bool // a public client exists
	readAt time.Time
}

// originKey names the origin a document was made for: the request's scheme
// and Host without a configured issuer, the zero key with one.
type originKey struct {
	tls  bool
	host string
}

// builtMetadata is one origin's document and the catalog it was made from.
type builtMetadata struct {
	doc     *publicDocument
	catalog *catalog
}

func newMetadataCache(cfg *settings, paths endpointPaths, defs repos.Definitions) *metadataCache {
	source, _ := defs.(repos.Catalog)
	c := &metadataCache{issuer: cfg.issuer, grants: cfg.grants, paths: paths, source: source}
	c.docs.Store(&map[originKey]*builtMetadata{})
	return c
}

// serveMetadata answers the metadata path.
func (h *ServerHandler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	doc, err := h.metadata.document(r, time.Now())
	if err != nil {
		h.writeError(w, r, grants.TemporarilyUnavailable(fmt.Errorf("reading the repository for the metadata: %w", err)),
			false, requestInfo{endpoint: endpointMetadata})
		return
	}
	servePublicDocument(w, r, doc)
}

// document returns the metadata document for r's issuer.
func (c *metadataCache) document(r *http.Request, now time.Time) (*publicDocument, error) {
	cat, err := c.currentCatalog(r.Context(), now)
	if err != nil {
		return nil, err
	}
	var key originKey
	if c.issuer == "" {
		key = originKey{tls: r.TLS != nil, host: r.Host}
	}
	if built := (*c.docs.Load())[key]; built != nil && built.catalog == cat {
		return built.doc, nil
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = requestOrigin(r)
	}
	built := &builtMetadata{doc: newPublicDocument(c.render(issuer, cat)), catalog: cat}

	c.mu.Lock()
	defer c.mu.Unlock()
	docs := *c.docs.Load()
	if _, known := docs[key]; known || len(docs) < maxMetadataOrigins {
		next := make(map[originKey]*builtMetadata, len(docs)+1)
		maps.Copy(next, docs)
		next[key] = built
		c.docs.Store(&next)
	}
	return built.doc, nil
}

// currentCatalog returns the catalog, read again from the repository once
// it is catalogTTL old. A read that fails keeps the catalog read before for
// another catalogTTL: a repository that is down must not take the metadata
// with it, nor be asked again by every request. Only with no catalog yet is
// the failure the caller's.
func (c *metadataCache) currentCatalog(ctx context.Context, now time.Time) (*catalog, error) {
	cat := c.catalog.Load()
	if cat != nil && now.Sub(cat.readAt) < catalogTTL {
		return cat, nil
	}
	if cat != nil {
		if !c.refreshing.TryLock() {
			return cat, nil // another request is reading it
		}
	} else {
		c.refreshing.Lock()
	}
	defer c.refreshing.Unlock()
	if again := c.catalog.Load(); again != nil && now.Sub(again.readAt) < catalogTTL {
		return again, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), catalogTimeout)
	defer cancel()
	fresh, err := c.read(ctx, now)
	if err != nil {
		if cat == nil {
			return nil, err
		}
		stale := *cat
		stale.readAt = now
		fresh = &stale
	}
	c.catalog.Store(fresh)
	return fresh, nil
}

// read reads the catalog from the repository.
func (c *metadataCache) read(ctx context.Context, now time.Time) (*catalog, error) {
	cat := &catalog{scopes: []string{}, readAt: now}
	if c.source == nil {
		return cat, nil
	}
	scopes, err := c.source.ScopeIDs(ctx)
	if err != nil {
		return nil, err
	}
	public, err := c.source.HasPublicClients(ctx)
	if err != nil {
		return nil, err
	}
	cat.scopes, cat.public = scopes, public
	return cat, nil
}

// render makes the document of issuer: endpoint URLs on the issuer's origin,
// and what the catalog offers.
func (c *metadataCache) render(issuer string, cat *catalog) []byte {
	origin := issuer
	if u, err := url.Parse(issuer); err == nil {
		origin = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	}
	clientAuth := []string{"client_secret_basic", "client_secret_post"}
	if cat.public {
		clientAuth = append(clientAuth, "none")
	}
	md := metadata{
		Issuer:                                 issuer,
		TokenEndpoint:                          origin + c.paths.token,
		JWKSURI:                                origin + c.paths.jwks,
		RevocationEndpoint:                     origin + c.paths.revoke,
		IntrospectionEndpoint:                  origin + c.paths.introspect,
		GrantTypesSupported:                    c.grants,
		ResponseTypesSupported:                 []string{},
		ScopesSupported:                        cat.scopes,
		TokenEndpointAuthMethodsSupported:      clientAuth,
		RevocationEndpointAuthMethodsSupported: clientAuth,
		// Introspection is for confidential clients only (RFC 7662 §2.1).
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
	}
	// Strings and string slices: this cannot fail.
	body, _ := json.Marshal(md)
	return body
}
