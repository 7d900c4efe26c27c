package caddyoauth2

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddy-oauth2/caddy-oauth2/grants"
)

// maxBodySize is the largest token request body read (DESIGN.md section 5). A
// real token request is well under 1 KiB.
const maxBodySize = 64 << 10

// bodyTimeout is how long after its headers a request's body may take to
// arrive (DESIGN.md §6a). A variable so that a test need not wait 10 s.
var bodyTimeout = 10 * time.Second

// maxAuthorizationHeader bounds the Authorization header we decode.
const maxAuthorizationHeader = 4 << 10

// formParams are the parameters the token endpoint reads. Others are ignored
// (RFC 6749 section 3.2), so only these are checked for repetition.
var formParams = []string{
	"grant_type", "client_id", "client_secret", "scope",
	"refresh_token", "username", "password",
}

// requestError is a malformed request: the grants.Error to answer with and,
// for invalid_client, whether the client tried HTTP Basic.
type requestError struct {
	err   *grants.Error
	basic bool
}

// parseTokenRequest turns an HTTP token request into a grants.Request, applying
// every check that belongs to HTTP rather than to OAuth grants: method, media
// type, body size, repeated parameters and the client authentication method.
func parseTokenRequest(w http.ResponseWriter, r *http.Request) (*grants.Request, *requestError) {
	form, err := readForm(w, r, endpointToken)
	if err != nil {
		return nil, &requestError{err: err}
	}
	params, err := singleParams(form, formParams)
	if err != nil {
		return nil, &requestError{err: err}
	}
	if params["grant_type"] == "" {
		return nil, &requestError{err: grants.InvalidRequest("Check the `grant_type` parameter")}
	}
	req := &grants.Request{
		GrantType:    params["grant_type"],
		ClientID:     params["client_id"],
		ClientSecret: params["client_secret"],
		Scope:        params["scope"],
		RefreshToken: params["refresh_token"],
		Username:     params["username"],
		Password:     params["password"],
	}
	var perr *requestError
	if req.ClientID, req.ClientSecret, req.BasicAuth, perr = clientCredentials(r, req.ClientID, req.ClientSecret); perr != nil {
		return nil, perr
	}
	return req, nil
}

// tokenRequestParams are the parameters the revocation and introspection
// endpoints read.
var tokenRequestParams = []string{"token", "token_type_hint", "client_id", "client_secret"}

// parseTokenQuery turns a revocation or introspection request into a
// grants.TokenRequest, with the token endpoint's HTTP rules. The token
// parameter's presence is checked after the client is authenticated, as the
// token endpoint checks a grant's parameters.
func parseTokenQuery(w http.ResponseWriter, r *http.Request, endpoint string) (*grants.TokenRequest, *requestError) {
	form, err := readForm(w, r, endpoint)
	if err != nil {
		return nil, &requestError{err: err}
	}
	params, err := singleParams(form, tokenRequestParams)
	if err != nil {
		return nil, &requestError{err: err}
	}
	req := &grants.TokenRequest{Token: params["token"], TokenTypeHint: params["token_type_hint"]}
	var perr *requestError
	if req.ClientID, req.ClientSecret, req.BasicAuth, perr = clientCredentials(r, params["client_id"], params["client_secret"]); perr != nil {
		return nil, perr
	}
	return req, nil
}

// readForm reads the form body of a POST to an OAuth endpoint: only POST,
// only application/x-www-form-urlencoded, at most maxBodySize bytes.
// endpoint names it in the answer to another method.
func readForm(w http.ResponseWriter, r *http.Request, endpoint string) (url.Values, *grants.Error) {
	if r.Method != http.MethodPost {
		return nil, withStatus(grants.InvalidRequest("The "+endpoint+" endpoint only accepts POST"), http.StatusMethodNotAllowed)
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/x-www-form-urlencoded" {
		return nil, grants.InvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if r.ContentLength > maxBodySize {
		return nil, bodyTooLarge()
	}
	// A body that trickles in would hold the connection, and a goroutine,
	// as long as the client likes: it must arrive within bodyTimeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize+1))
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		w.Header().Set("Connection", "close")
		return nil, withStatus(grants.InvalidRequest(fmt.Sprintf("The request body did not arrive within %s", bodyTimeout)), http.StatusRequestTimeout)
	}
	if err != nil {
		return nil, grants.InvalidRequest("The request body could not be read")
	}
	if len(body) > maxBodySize {
		return nil, bodyTooLarge()
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, grants.InvalidRequest("The request body is not valid form encoding")
	}
	return form, nil
}

// singleParams returns the one value of each named parameter ("" when it is
// omitted), or the error for a parameter sent more than once.
func singleParams(form url.Values, names []string) (map[string]string, *grants.Error) {
	params := make(map[string]string, len(names))
	for _, name := range names {
		value, err := single(form, name)
		if err != nil {
			return nil, err
		}
		params[name] = value
	}
	return params, nil
}

// clientCredentials returns the client's credentials: from an
// Authorization: Basic header if there is one, else the body's client_id
// and client_secret. Other schemes are ignored.
func clientCredentials(r *http.Request, bodyID, bodySecret string) (id, secret string, basic bool, perr *requestError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return bodyID, bodySecret, false, nil
	}
	id, secret, isBasic, err := parseBasicAuth(auth)
	if !isBasic {
		return bodyID, bodySecret, false, nil
	}
	if err != nil {
		return "", "", true, &requestError{err: grants.InvalidClient(), basic: true}
	}
	// RFC 6749 section 2.3: a client MUST NOT use more than one method.
	if bodySecret != "" {
		return "", "", true, &requestError{err: grants.InvalidRequest("Client credentials were sent both in the Authorization header and in the body")}
	}
	if bodyID != "" && bodyID != id {
		return "", "", true, &requestError{err: grants.InvalidRequest("Check the `client_id` parameter: it differs from the Authorization header")}
	}
	return id, secret, true, nil
}

// single returns the one value of a parameter. A parameter sent without a value
// counts as omitted (RFC 6749 section 3.2), so only non-empty values count
// towards repetition.
func single(form url.Values, name string) (string, *grants.Error) {
	var value string
	seen := false
	for _, v := range form[name] {
		if v == "" {
			continue
		}
		if seen {
			return "", grants.InvalidRequest(fmt.Sprintf("Check the `%s` parameter: it was sent more than once", name))
		}
		value, seen = v, true
	}
	return value, nil
}

var errMalformedBasic = errors.New("malformed basic credentials")

// parseBasicAuth decodes an Authorization header. isBasic is false for other
// schemes, which the token endpoint ignores. Per RFC 6749 section 2.3.1 the id
// and secret are each form-urlencoded before base64, so both are form-decoded
// after splitting on the first colon.
func parseBasicAuth(header string) (id, secret string, isBasic bool, err error) {
	scheme, credentials, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	credentials = strings.TrimSpace(credentials)
	if len(credentials) > maxAuthorizationHeader {
		return "", "", true, errMalformedBasic
	}
	decoded, err := base64.StdEncoding.DecodeString(credentials)
	if err != nil {
		return "", "", true, errMalformedBasic
	}
	rawID, rawSecret, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", true, errMalformedBasic
	}
	if id, err = url.QueryUnescape(rawID); err != nil || id == "" {
		return "", "", true, errMalformedBasic
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, errMalformedBasic
	}
	return id, secret, true, nil
}

func bodyTooLarge() *grants.Error {
	return withStatus(grants.InvalidRequest(fmt.Sprintf("The request body is larger than %d bytes", maxBodySize)), http.StatusRequestEntityTooLarge)
}

func withStatus(e *grants.Error, status int) *grants.Error {
	e.Status = status
	return e
}
