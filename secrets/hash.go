package secrets

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CheckHash accepts the hash formats `caddy hash-password` prints and PHP's
// password_hash produces: bcrypt ($2a$, $2b$, $2y$) and argon2id in PHC form.
// It checks more than the prefix because a malformed hash fails every login
// silently at best; at worst an argon2id hash with no key part would match
// every password, and one with t=0 or p=0 would panic the comparison.
// Backends call it when a hash is stored or loaded, and Verify calls it before
// every uncached comparison, so a bad hash from any source locks its owner out.
// The messages never contain the hash.
func CheckHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		return checkBcrypt(h)
	case strings.HasPrefix(h, "$argon2id$"):
		return checkArgon2id(h)
	}
	return errors.New("not a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash")
}

// bcryptAlphabet is the base64 alphabet of bcrypt's salt and hash.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// checkBcrypt checks "$2b$" cost "$" and 53 characters of salt and hash.
func checkBcrypt(h string) error {
	if len(h) != 60 || h[6] != '$' {
		return errors.New("malformed bcrypt hash: want 60 characters, $2b$NN$ and 53 of salt and hash")
	}
	cost, err := strconv.Atoi(h[4:6])
	if err != nil || cost < 4 || cost > 31 {
		return errors.New("malformed bcrypt hash: cost is not 04 to 31")
	}
	for i := 7; i < len(h); i++ {
		if !strings.ContainsRune(bcryptAlphabet, rune(h[i])) {
			return errors.New("malformed bcrypt hash: invalid character in salt or hash")
		}
	}
	return nil
}

// Bounds of an argon2id hash. The key and salt minimums are those of RFC 9106
// (§3.1: salt of 8 bytes at least, 16 recommended; a tag of 16 bytes is far
// beyond guessing). The memory maximum keeps a typo from making each login
// allocate terabytes; RFC 9106's first recommendation is 2 GiB.
const (
	argon2MinSalt   = 8
	argon2MinKey    = 16
	argon2MaxMemory = 4 << 20 // KiB: 4 GiB
)

// checkArgon2id checks "$argon2id$v=19$m=M,t=T,p=P$salt$key", as Caddy's
// argon2id module parses it.
func checkArgon2id(h string) error {
	parts := strings.Split(h, "$")
	if len(parts) != 6 {
		return errors.New("malformed argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$salt$key")
	}
	if parts[2] != "v=19" {
		return errors.New("malformed argon2id hash: version is not v=19")
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return errors.New("malformed argon2id hash: want parameters m=M,t=T,p=P")
	}
	m, errM := argon2Param(params[0], "m=", 32)
	t, errT := argon2Param(params[1], "t=", 32)
	p, errP := argon2Param(params[2], "p=", 8)
	if err := errors.Join(errM, errT, errP); err != nil {
		return fmt.Errorf("malformed argon2id hash: %w", err)
	}
	switch {
	case t < 1:
		return errors.New("malformed argon2id hash: t must be at least 1")
	case p < 1:
		return errors.New("malformed argon2id hash: p must be at least 1")
	case m < 8*p:
		return errors.New("malformed argon2id hash: m must be at least 8×p")
	case m > argon2MaxMemory:
		return fmt.Errorf("argon2id hash: m above %d KiB", argon2MaxMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < argon2MinSalt {
		return fmt.Errorf("malformed argon2id hash: salt is not unpadded base64 of %d bytes or more", argon2MinSalt)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < argon2MinKey {
		return fmt.Errorf("malformed argon2id hash: key is not unpadded base64 of %d bytes or more", argon2MinKey)
	}
	return nil
}

// argon2Param parses one "k=N" parameter.
func argon2Param(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("parameter %q missing", strings.TrimSuffix(prefix, "="))
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("parameter %q is not a number", strings.TrimSuffix(prefix, "="))
	}
	return n, nil
}
