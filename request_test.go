package caddyoauth2

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func basic(userpass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass))
}

func tokenRequest(method, contentType, body string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, "/oauth/token", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

const form = "application/x-www-form-urlencoded"

func TestParseTokenRequest_Rejects(t *testing.T) {
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantCode   string
		wantBasic  bool
	}{
		{"GET", tokenRequest(http.MethodGet, form, ""), 405, "invalid_request", false},
		{"JSON body", tokenRequest(http.MethodPost, "application/json", `{"grant_type":"x"}`), 400, "invalid_request", false},
		{"no content type", tokenRequest(http.MethodPost, "", "grant_type=x"), 400, "invalid_request", false},
		{"bad escape", tokenRequest(http.MethodPost, form, "grant_type=%zz"), 400, "invalid_request", false},
		{"body over limit", tokenRequest(http.MethodPost, form, "grant_type=x&pad="+strings.Repeat("a", maxBodySize)), 413, "invalid_request", false},
		{"grant_type missing", tokenRequest(http.MethodPost, form, "client_id=a"), 400, "invalid_request", false},
		{"grant_type empty", tokenRequest(http.MethodPost, form, "grant_type=&client_id=a"), 400, "invalid_request", false},
		{"grant_type twice", tokenRequest(http.MethodPost, form, "grant_type=password&grant_type=password"), 400, "invalid_request", false},
		{"scope twice", tokenRequest(http.MethodPost, form, "grant_type=password&scope=a&scope=b"), 400, "invalid_request", false},
		{"secret in Basic and body", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_secret=s",
			"Authorization", basic("id:s")), 400, "invalid_request", false},
		{"body client_id differs from Basic", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_id=other",
			"Authorization", basic("id:s")), 400, "invalid_request", false},
		{"Basic not base64", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", "Basic !!!"), 401, "invalid_client", true},
		{"Basic without colon", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", basic("idonly")), 401, "invalid_client", true},
		{"Basic empty id", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", basic(":secret")), 401, "invalid_client", true},
		{"Basic bad percent escape", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", basic("id:%zz")), 401, "invalid_client", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := parseTokenRequest(httptest.NewRecorder(), tt.req)
			require.NotNil(t, perr)
			assert.Equal(t, tt.wantStatus, perr.err.Status)
			assert.Equal(t, tt.wantCode, perr.err.Code)
			assert.Equal(t, tt.wantBasic, perr.basic)
			assert.NotEmpty(t, perr.err.Description)
		})
	}
}

func TestParseTokenRequest_Accepts(t *testing.T) {
	tests := []struct {
		name       string
		req        *http.Request
		wantID     string
		wantSecret string
		wantBasic  bool
		wantScope  string
	}{
		{"post credentials, charset parameter", tokenRequest(http.MethodPost, "application/x-www-form-urlencoded; charset=UTF-8",
			"grant_type=client_credentials&client_id=cli%3Aent&client_secret=s3c+r%2Bt%2F%25%26%3D&scope=read+write"),
			"cli:ent", "s3c r+t/%&=", false, "read write"},
		{"Basic form-encoded (x/oauth2, openid-client)", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&scope=read%20write",
			"Authorization", basic("cli%3Aent:s3c+r%2Bt%2F%25%26%3D")), "cli:ent", "s3c r+t/%&=", true, "read write"},
		{"Basic scheme in lower case", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("web:pw"))), "web", "pw", true, ""},
		{"secret may contain colons", tokenRequest(http.MethodPost, form, "grant_type=client_credentials",
			"Authorization", basic("web:a:b")), "web", "a:b", true, ""},
		{"body client_id equal to Basic id", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_id=web",
			"Authorization", basic("web:pw")), "web", "pw", true, ""},
		{"empty values count as omitted", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_id=web&scope=&scope=read&client_secret="),
			"web", "", false, "read"},
		{"unknown parameters ignored, even repeated", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_id=web&x=1&x=2"),
			"web", "", false, ""},
		{"Bearer header ignored", tokenRequest(http.MethodPost, form, "grant_type=client_credentials&client_id=web",
			"Authorization", "Bearer abc"), "web", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, perr := parseTokenRequest(httptest.NewRecorder(), tt.req)
			require.Nil(t, perr)
			assert.Equal(t, tt.wantID, req.ClientID)
			assert.Equal(t, tt.wantSecret, req.ClientSecret)
			assert.Equal(t, tt.wantBasic, req.BasicAuth)
			assert.Equal(t, tt.wantScope, req.Scope)
		})
	}
}

func FuzzParseTokenRequest(f *testing.F) {
	f.Add("grant_type=password&username=alice&password=p%40ss+w%2Brd&scope=read+write", basic("cli%3Aent:s3c+r%2Bt"))
	f.Add("grant_type=refresh_token&refresh_token=abc&client_id=web&client_secret=x", "")
	f.Add("grant_type=client_credentials&grant_type=x", "Basic !!")
	f.Add("%", "basic Og==")
	f.Fuzz(func(t *testing.T, body, auth string) {
		r := tokenRequest(http.MethodPost, form, body, "Authorization", auth)
		req, perr := parseTokenRequest(httptest.NewRecorder(), r)
		if perr != nil {
			require.Nil(t, req)
			require.NotEmpty(t, perr.err.Code)
			require.Contains(t, []int{400, 401, 413}, perr.err.Status)
			return
		}
		require.NotEmpty(t, req.GrantType)
		if req.BasicAuth {
			require.NotEmpty(t, req.ClientID)
		}
	})
}
