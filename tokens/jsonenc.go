package tokens

import "unicode/utf8"

// appendJSONString appends s to dst as a JSON string, byte for byte as
// encoding/json.Marshal writes it: invalid UTF-8 becomes U+FFFD, <, > and & are
// escaped for HTML, and so are U+2028 and U+2029 for JavaScript. Mint writes the
// claims with it so that encoding them costs no reflection and no allocation,
// while the tokens stay identical to what json.Marshal made; FuzzAppendJSONString
// holds the two equal.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONEscaped(dst, s)
	return append(dst, '"')
}

// appendJSONEscaped appends the inside of the JSON string of s, without the
// quotes. Escaping works character by character, so strings written one after
// the other escape exactly as their concatenation would.
func appendJSONEscaped(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0 // s[start:i] is pending: it needs no escaping
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe(b) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				// Other control characters, and <, > and & (HTML-safe like json.Marshal).
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but line terminators in JavaScript before ES2019.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// jsonSafe reports whether the ASCII byte b goes into a JSON string as is:
// printable, not a quote or backslash, and not one of the characters
// encoding/json escapes so that JSON can be embedded in HTML.
func jsonSafe(b byte) bool {
	return b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
}
