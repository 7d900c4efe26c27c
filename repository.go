package caddyoauth2

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

func init() {
	caddy.RegisterModule(FileRepository{})
	caddy.RegisterModule(SQLRepository{})
}

const (
	// connectTimeout bounds how long provisioning waits for a database, so an
	// unreachable one is a prompt config error rather than a hung reload.
	connectTimeout = 10 * time.Second
	// lockTimeout bounds how long provisioning waits for the storage lock.
	lockTimeout = 30 * time.Second
)

// supportedDrivers are the SQL drivers a repository may name.
var supportedDrivers = reposql.Drivers

// Repository is a guest module in the http.oauth2.repositories namespace: it
// provides the client, user and scope definitions and the token store.
type Repository interface {
	Repository() (repos.Definitions, repos.TokenStore)
}

// SQLRepository keeps clients, users, scopes and token state in one SQL database.
// The schema is created by embedded migrations when it is provisioned.
type SQLRepository struct {
	// Driver is the database kind: sqlite, postgres or mysql.
	Driver string `json:"driver,omitempty"`
	// DSN is the data source name in the driver's own form: a file path for
	// sqlite. Placeholders such as {env.DATABASE_URL} are resolved.
	DSN string `json:"dsn,omitempty"`

	store   *reposql.Store
	poolKey string
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (SQLRepository) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.oauth2.repositories.sql",
		New: func() caddy.Module { return new(SQLRepository) },
	}
}

// Provision opens the database, or shares the pool that an earlier config (before
// a reload) or another handler opened with the same driver and DSN.
func (r *SQLRepository) Provision(ctx caddy.Context) error {
	r.logger = ctx.Logger()
	if r.Driver == "" && r.DSN == "" {
		r.Driver, r.DSN = defaultSQLite()
	}
	if !slices.Contains(supportedDrivers, r.Driver) {
		return fmt.Errorf("unknown driver %q (want one of %v)", r.Driver, supportedDrivers)
	}
	dsn := caddy.NewReplacer().ReplaceKnown(r.DSN, "")
	if dsn == "" {
		return fmt.Errorf("%s: empty dsn", r.Driver)
	}
	store, key, err := openStore(ctx, r.Driver, dsn)
	if err != nil {
		return err
	}
	r.store, r.poolKey = store, key
	return nil
}

// Repository implements Repository.
func (r *SQLRepository) Repository() (repos.Definitions, repos.TokenStore) {
	return r.store, r.store
}

// Cleanup releases this config's reference to the shared database pool.
func (r *SQLRepository) Cleanup() error {
	return releaseStore(r.logger, r.poolKey)
}

// FileRepository reads clients, users and scopes from a JSON definitions file and
// keeps token state in a SQL database (by default SQLite in Caddy's data dir).
// The file is read at provision: edit it, then reload Caddy.
type FileRepository struct {
	// Path is the JSON definitions file.
	Path string `json:"path,omitempty"`
	// Tokens is where token state is kept. Default: SQLite at
	// <caddy data dir>/oauth2/oauth2.db.
	Tokens *SQLRepository `json:"tokens,omitempty"`

	defs *file.Definitions
}

// CaddyModule returns the Caddy module information.
func (FileRepository) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.oauth2.repositories.file",
		New: func() caddy.Module { return new(FileRepository) },
	}
}

// Provision loads the definitions file and opens the token store.
func (r *FileRepository) Provision(ctx caddy.Context) error {
	if r.Path == "" {
		return fmt.Errorf("file: missing path of the definitions file")
	}
	defs, err := file.Load(caddy.NewReplacer().ReplaceKnown(r.Path, ""))
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	r.defs = defs
	if r.Tokens == nil {
		r.Tokens = new(SQLRepository)
	}
	if err := r.Tokens.Provision(ctx); err != nil {
		return fmt.Errorf("file: tokens: %w", err)
	}
	return nil
}

// Repository implements Repository.
func (r *FileRepository) Repository() (repos.Definitions, repos.TokenStore) {
	return r.defs, r.Tokens.store
}

// Cleanup releases the token store.
func (r *FileRepository) Cleanup() error {
	if r.Tokens == nil {
		return nil
	}
	return r.Tokens.Cleanup()
}

// defaultSQLite is the repository used when none is configured.
func defaultSQLite() (driver, dsn string) {
	return "sqlite", filepath.Join(caddy.AppDataDir(), "oauth2", "oauth2.db")
}

// storePool holds open databases across config reloads, keyed by driver and DSN,
// so a reload reuses the pool instead of dropping in-flight requests, and the
// last config to let go closes it.
var storePool = caddy.NewUsagePool()

type storeCloser struct{ *reposql.Store }

func (c storeCloser) Destruct() error { return c.Close() }

func openStore(ctx context.Context, driver, dsn string) (*reposql.Store, string, error) {
	key := driver + "\x00" + dsn
	val, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		openCtx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		store, err := reposql.Open(openCtx, driver, dsn)
		if err != nil {
			// The DSN may hold a password: name the driver, not the DSN.
			return nil, fmt.Errorf("opening %s database: %w", driver, err)
		}
		return storeCloser{store}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(storeCloser).Store, key, nil
}

func releaseStore(logger *zap.Logger, key string) error {
	if key == "" {
		return nil
	}
	deleted, err := storePool.Delete(key)
	if deleted && logger != nil {
		logger.Debug("closed unused oauth2 database")
	}
	return err
}

// loadRepository loads the configured repository module, or the default one.
func (h *TokenHandler) loadRepository(ctx caddy.Context) (Repository, error) {
	if h.RepositoryRaw == nil {
		h.RepositoryRaw = json.RawMessage(`{"backend":"sql"}`)
	}
	mod, err := ctx.LoadModule(h, "RepositoryRaw")
	if err != nil {
		return nil, err
	}
	return mod.(Repository), nil
}

// Interface guards
var (
	_ caddy.Provisioner  = (*SQLRepository)(nil)
	_ caddy.CleanerUpper = (*SQLRepository)(nil)
	_ caddy.Provisioner  = (*FileRepository)(nil)
	_ caddy.CleanerUpper = (*FileRepository)(nil)
	_ Repository         = (*SQLRepository)(nil)
	_ Repository         = (*FileRepository)(nil)
)
