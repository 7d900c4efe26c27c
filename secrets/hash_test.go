package secrets_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/caddy-oauth2/caddy-oauth2/secrets"
)

const (
	validBcrypt   = "$2a$04$Gbp3QJxqCCJ.2SSoShK53eK2.B43UehH2kkoeDVqO17DINtqOomFu"
	validArgon2id = "$argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg"
)

func TestCheckHash(t *testing.T) {
	bcryptBody := validBcrypt[7:]
	argon := func(params, salt, key string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	const salt16 = "P2nzckEdTZ3bxCiBCkRTyA"
	const key32 = "xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg"
	tests := []struct {
		name, hash, want string // want "" means valid
	}{
		{"bcrypt 2a", validBcrypt, ""},
		{"bcrypt 2b", "$2b$10$" + bcryptBody, ""},
		{"bcrypt 2y (PHP)", "$2y$31$" + bcryptBody, ""},
		{"argon2id", validArgon2id, ""},
		{"argon2id of RFC 9106's first recommendation", argon("m=2097152,t=1,p=4", salt16, key32), ""},

		{"empty", "", "not a bcrypt"},
		{"plain text", "correct horse", "not a bcrypt"},
		{"bcrypt 2x", "$2x$10$" + bcryptBody, "not a bcrypt"},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + salt16 + "$" + key32, "not a bcrypt"},
		{"sha512-crypt", "$6$rounds=5000$saltsalt$" + key32, "not a bcrypt"},

		{"bcrypt truncated", validBcrypt[:59], "want 60 characters"},
		{"bcrypt too long", validBcrypt + "x", "want 60 characters"},
		{"bcrypt cost 03", "$2a$03$" + bcryptBody, "cost is not 04 to 31"},
		{"bcrypt cost 32", "$2a$32$" + bcryptBody, "cost is not 04 to 31"},
		{"bcrypt cost not digits", "$2a$1x$" + bcryptBody, "cost is not 04 to 31"},
		{"bcrypt bad alphabet", "$2a$04$" + strings.Repeat("+", 53), "invalid character"},

		{"argon2id missing key", "$argon2id$v=19$m=65536,t=3,p=4$" + salt16, "want $argon2id$v=19$m=M,t=T,p=P$salt$key"},
		{"argon2id version 16", "$argon2id$v=16$m=65536,t=3,p=4$" + salt16 + "$" + key32, "version is not v=19"},
		{"argon2id two parameters", argon("m=65536,t=3", salt16, key32), "want parameters m=M,t=T,p=P"},
		{"argon2id parameters out of order", argon("t=3,m=65536,p=4", salt16, key32), `parameter "m" missing`},
		{"argon2id p over 255", argon("m=65536,t=3,p=256", salt16, key32), `parameter "p" is not a number`},
		{"argon2id t=0 would panic", argon("m=65536,t=0,p=4", salt16, key32), "t must be at least 1"},
		{"argon2id p=0 would panic", argon("m=65536,t=3,p=0", salt16, key32), "p must be at least 1"},
		{"argon2id m below 8p", argon("m=31,t=3,p=4", salt16, key32), "m must be at least 8×p"},
		{"argon2id m of terabytes", argon("m=4294967295,t=1,p=1", salt16, key32), "m above 4194304 KiB"},
		{"argon2id empty key matches every password", argon("m=65536,t=3,p=4", salt16, ""), "key is not unpadded base64 of 16 bytes"},
		{"argon2id short key", argon("m=65536,t=3,p=4", salt16, "AAAAAAAAAAA"), "key is not unpadded base64 of 16 bytes"},
		{"argon2id padded key", argon("m=65536,t=3,p=4", salt16, key32+"="), "key is not unpadded base64"},
		{"argon2id short salt", argon("m=65536,t=3,p=4", "AAAA", key32), "salt is not unpadded base64 of 8 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := secrets.CheckHash(tt.hash)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
				if len(tt.hash) > 10 {
					assert.NotContains(t, err.Error(), tt.hash[len(tt.hash)-10:], "the message never repeats the hash")
				}
			}
		})
	}
}
