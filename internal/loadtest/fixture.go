package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-oauth2/caddy-oauth2/tokens"
)

// The client and user the load test authenticates as. The secrets are random per
// run; nothing outlives the temporary directory.
const (
	clientID = "bench"
	username = "bench-user"
	scope    = "read write"
)

// fixture is the on-disk setup of one run and what the load generator needs to
// talk to it.
type fixture struct {
	addr         string // 127.0.0.1:port
	adminAddr    string // 127.0.0.1:port of Caddy's admin API, "" when it is off
	caddyfile    string
	algorithm    string
	clientSecret string
	password     string
}

// writeFixture writes the signing key, the definitions file and the Caddyfile
// into dir. The admin API is off unless withAdmin (for profiling).
func writeFixture(dir, keyType string, withAdmin bool) (*fixture, error) {
	fx := &fixture{clientSecret: randomString(), password: randomString()}

	var key crypto.Signer
	var err error
	switch keyType {
	case "rsa":
		fx.algorithm = "RS256"
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		fx.algorithm = "ES256"
		key, err = tokens.GenerateKey()
	}
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	pemData, err := tokens.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, "signing.pem")
	if err := os.WriteFile(keyPath, pemData, 0o600); err != nil {
		return nil, err
	}

	defs, err := definitions(fx.clientSecret, fx.password)
	if err != nil {
		return nil, err
	}
	defsPath := filepath.Join(dir, "definitions.json")
	if err := os.WriteFile(defsPath, defs, 0o600); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	fx.addr = fmt.Sprintf("127.0.0.1:%d", port)
	admin := "off"
	if withAdmin {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		fx.adminAddr = fmt.Sprintf("127.0.0.1:%d", port)
		admin = fx.adminAddr
	}
	fx.caddyfile = filepath.Join(dir, "Caddyfile")
	encryptionKey := randomString() // 43 characters, above the 32-byte minimum
	caddyfile := fmt.Sprintf(`{
	admin %[6]s
	persist_config off
	storage file_system %[1]s/storage
}

http://%[2]s {
	bind 127.0.0.1
	oauth2_server {
		private_key %[3]s
		encryption_key %[4]s
		grants password refresh_token client_credentials
		repository file %[5]s {
			tokens sql sqlite %[1]s/tokens.db
		}
	}
	respond /static "ok" 200
}
`, dir, fx.addr, keyPath, encryptionKey, defsPath, admin)
	if err := os.WriteFile(fx.caddyfile, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	return fx, nil
}

// definitions is one confidential client allowed every grant and one user.
// bcrypt at its default cost, as `caddy hash-password` makes: the handler's cache
// of verified secrets is part of what is measured.
func definitions(clientSecret, password string) ([]byte, error) {
	secretHash, err := bcrypt.GenerateFromPassword([]byte(clientSecret), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	passwordHash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]any{
		"scopes": []map[string]string{{"id": "read"}, {"id": "write"}},
		"clients": []map[string]any{{
			"id":          clientID,
			"secret_hash": string(secretHash),
			"grants":      []string{"client_credentials", "refresh_token", "password"},
			"scopes":      []string{"read", "write"},
		}},
		"users": []map[string]any{{
			"id":            "u-bench",
			"username":      username,
			"password_hash": string(passwordHash),
			"scopes":        []string{"read", "write"},
		}},
	}, "", "  ")
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// freePort asks the kernel for a port that is free now. Caddy binds it a moment
// later; on a loaded machine another process could take it first, and Caddy then
// fails to start with a clear error.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
