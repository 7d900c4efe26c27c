package tokens

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trickyStrings are claim values that need escaping, or nearly do.
var trickyStrings = map[string]string{
	"empty":                 "",
	"plain":                 "https://auth.example.com",
	"quote":                 `a"b`,
	"backslash":             `a\b\\`,
	"short escapes":         "\b\f\n\r\t",
	"other control chars":   "\x00\x01\x0b\x1f",
	"DEL":                   "\x7f",
	"HTML":                  "</script><script>alert(1)</script> & <b>",
	"unicode":               "héllo 日本語 🎉 \u00a0",
	"line separators":       "a\u2028b\u2029c",
	"near line separators":  "\u2027\u202a",
	"invalid UTF-8":         "a\xffb\xfe",
	"truncated sequence":    "\xe2\x80",
	"surrogate half":        "\xed\xa0\x80",
	"replacement character": "\ufffd",
	"long":                  strings.Repeat(`x"\`, 400),
}

// marshalJSONString is the reference appendJSONString must match.
func marshalJSONString(tb testing.TB, s string) string {
	tb.Helper()
	want, err := json.Marshal(s)
	require.NoError(tb, err)
	return string(want)
}

func TestAppendJSONString_MatchesEncodingJSON(t *testing.T) {
	for name, s := range trickyStrings {
		t.Run(name, func(t *testing.T) {
			got := appendJSONString([]byte("prefix:"), s)
			assert.Equal(t, "prefix:"+marshalJSONString(t, s), string(got))
		})
	}
}

func TestAppendJSONEscaped_ConcatenatesLikeTheJoinedString(t *testing.T) {
	// Mint escapes scopes one by one; that must equal escaping the joined scope.
	parts := []string{"a\xe2\x80", "\x80b", "\u2028", `"`, "\xff"}
	var got []byte
	for i, p := range parts {
		if i > 0 {
			got = append(got, ' ')
		}
		got = appendJSONEscaped(got, p)
	}
	assert.Equal(t, marshalJSONString(t, strings.Join(parts, " ")), `"`+string(got)+`"`)
}
