package caddyoauth2

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
	"github.com/caddy-oauth2/caddy-oauth2/keyset"
)

func init() {
	caddy.RegisterModule(ServerHandler{})
}

// Defaults of oauth2_server's own settings.
const (
	DefaultBasePath    = "/oauth"
	DefaultKeyRotation = 30 * 24 * time.Hour
)

// metadataPath is where RFC 8414 §3 puts the metadata of an issuer without
// a path; an issuer with one has it appended.
const metadataPath = "/.well-known/oauth-authorization-server"

// ServerHandler is the whole authorization server: the token endpoint of
// TokenHandler, plus revocation (RFC 7009), introspection (RFC 7662), the
// key set that verifies the access tokens (RFC 7517) and the server's
// metadata (RFC 8414), each at a fixed path. Every other request goes to the
// next handler unchanged, so the server can share a site with its pages.
type ServerHandler struct {
	TokenHandler

	// BasePath is the path under which the endpoints are served:
	// {base}/token, {base}/revoke, {base}/introspect and {base}/jwks.json.
	// The metadata is at /.well-known/oauth-authorization-server whatever it
	// is. Default: /oauth.
	BasePath string `json:"base_path,omitempty"`

	// VerificationKeys are paths of PEM keys (public, or private of which
	// only the public half is used) published in the key set and accepted by
	// introspection, never used to sign: the next key of an operator who
	// rotates key files by hand, or the previous one.
	VerificationKeys []string `json:"verification_keys,omitempty"`

	// KeyRotation is how long a generated signing key signs before the next
	// one takes over; the next one is published an hour before, and the old
	// one stays published until its tokens have expired. Default: 30d, at
	// least 2h. A negative value (`off` in the Caddyfile) keeps one key
	// forever. Not allowed with PrivateKey: a key file is rotated by hand.
	KeyRotation caddy.Duration `json:"key_rotation,omitempty"`

	paths    endpointPaths
	metadata *metadataCache
	// jwks is the key set document of the set last served.
	jwks *atomic.Pointer[jwksDocument]
}

// jwksDocument is the key set document of one key set.
type jwksDocument struct {
	set *keyset.Set
	doc *publicDocument
}

// jwksDocument returns the document of the key set in force, made again
// only when the set changed.
func (h *ServerHandler) jwksDocument() *publicDocument {
	set := h.keys.Current()
	if d := h.jwks.Load(); d != nil && d.set == set {
		return d.doc
	}
	d := &jwksDocument{set: set, doc: newPublicDocument(set.JWKS())}
	h.jwks.Store(d)
	return d.doc
}

// endpointPaths are the request paths the server answers.
type endpointPaths struct {
	token, revoke, introspect, jwks, metadata string
}

// CaddyModule returns the Caddy module information.
func (ServerHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth2_server",
		New: func() caddy.Module { return new(ServerHandler) },
	}
}

// Provision checks every setting, then sets up what oauth2_token does and
// the metadata.
func (h *ServerHandler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	cfg, base, err := h.resolve(caddy.NewReplacer())
	if err != nil {
		return err
	}
	h.paths = endpointPaths{
		token:      base + "/token",
		revoke:     base + "/revoke",
		introspect: base + "/introspect",
		jwks:       base + "/jwks.json",
		metadata:   metadataPath + issuerPath(cfg.issuer),
	}
	if err := h.provision(ctx, cfg); err != nil {
		return err
	}
	h.metadata = newMetadataCache(cfg, h.paths, h.definitions)
	h.jwks = new(atomic.Pointer[jwksDocument])
	return nil
}

// resolve is TokenHandler.resolve plus the server's own settings; it
// returns the base path too.
func (h *ServerHandler) resolve(repl *caddy.Replacer) (*settings, string, error) {
	var p problems
	s := h.resolveInto(repl, &p)
	p.add("issuer", checkIssuerURL(s.issuer))

	base, err := cleanBasePath(h.BasePath)
	p.add("base_path", err)

	for _, raw := range h.VerificationKeys {
		v, err := resolvePlaceholders(repl, raw)
		p.add("verification_key", err)
		s.verificationKeys = append(s.verificationKeys, v)
	}

	switch {
	case h.KeyRotation != 0 && s.privateKeyFile != "":
		p.add("key_rotation", errors.New("applies to generated keys only; with a private_key file, "+
			"publish the next key with verification_key and swap the files (see the README)"))
	case h.KeyRotation < 0:
		s.keyRotation = 0 // key_rotation off
	default:
		s.keyRotation = orDefault(h.KeyRotation, DefaultKeyRotation)
		p.add("key_rotation", keyset.CheckRotation(s.keyRotation, s.keyLead))
	}
	return s, base, errors.Join(p...)
}

// cleanBasePath checks base_path and returns it without a trailing slash,
// "" for the root.
func cleanBasePath(raw string) (string, error) {
	if raw == "" {
		return DefaultBasePath, nil
	}
	if !strings.HasPrefix(raw, "/") || strings.ContainsAny(raw, "?#%*{} \t") || path.Clean(raw) != raw {
		return "", fmt.Errorf("%q must be a clean absolute path such as /oauth, without a trailing slash", raw)
	}
	return strings.TrimSuffix(raw, "/"), nil
}

// checkIssuerURL refuses an issuer that RFC 8414 §2 does not allow: it must
// be an http(s) URL without query or fragment, since the metadata's URL and
// the endpoints' are made from it.
func checkIssuerURL(issuer string) error {
	if issuer == "" {
		return nil
	}
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be an http(s) URL without user, query or fragment, such as https://auth.example.com", issuer)
	}
	return nil
}

// issuerPath is the path of a configured issuer, without a trailing slash:
// RFC 8414 §3 appends it to the metadata's well-known path.
func issuerPath(issuer string) string {
	if issuer == "" {
		return ""
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.EscapedPath(), "/")
}

// ServeHTTP answers the server's paths and passes every other request on.
func (h *ServerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.URL.Path {
	case h.paths.token:
		return h.TokenHandler.ServeHTTP(w, r, next)
	case h.paths.revoke:
		h.serveRevoke(w, r)
	case h.paths.introspect:
		h.serveIntrospect(w, r)
	case h.paths.jwks:
		servePublicDocument(w, r, h.jwksDocument())
	case h.paths.metadata:
		h.serveMetadata(w, r)
	default:
		return next.ServeHTTP(w, r)
	}
	return nil
}

// publicDocument is a public JSON document ready to serve: its bytes and
// its Content-Length, computed once.
type publicDocument struct {
	body   []byte
	length []string
}

func newPublicDocument(body []byte) *publicDocument {
	return &publicDocument{body: body, length: []string{strconv.Itoa(len(body))}}
}

// The header values of every public document, shared by every answer
// rather than allocated per request: a header map's values are replaced or
// appended to (which copies a full slice), never written in place.
var (
	jsonContentType = []string{"application/json"}
	// publicCacheControl lets a resource server cache the key set and the
	// metadata for five minutes: a new key is published an hour before it
	// signs, far longer.
	publicCacheControl = []string{"public, max-age=300"}
	anyOrigin          = []string{"*"}
)

// servePublicDocument answers GET and HEAD with a public JSON document that
// anyone may cache for five minutes and any origin may read: the key set and
// the metadata hold nothing secret, and a browser app needs them as much as
// a resource server does.
func servePublicDocument(w http.ResponseWriter, r *http.Request, doc *publicDocument) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorResponse{
			Error: grants.CodeInvalidRequest, ErrorDescription: "Use GET or HEAD."})
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Cache-Control"] = publicCacheControl
	hdr["Access-Control-Allow-Origin"] = anyOrigin
	hdr["Content-Length"] = doc.length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.body)
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*ServerHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*ServerHandler)(nil)
)
