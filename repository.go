package caddyoauth2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-oauth2/caddy-oauth2/internal/manage"
	"github.com/caddy-oauth2/caddy-oauth2/repos"
	"github.com/caddy-oauth2/caddy-oauth2/repos/file"
	reposql "github.com/caddy-oauth2/caddy-oauth2/repos/sql"
)

func init() {
	caddy.RegisterModule(FileRepository{})
	caddy.RegisterModule(SQLRepository{})
}

// connectTimeout bounds how long provisioning waits for a database, so an
// unreachable one is a prompt config error rather than a hung reload.
const connectTimeout = 10 * time.Second

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
	driver, dsn, err := r.resolve(caddy.NewReplacer())
	if err != nil {
		return err
	}
	return r.open(ctx, driver, dsn)
}

// open opens the resolved database, or takes a reference to the pool open
// for it already.
func (r *SQLRepository) open(ctx caddy.Context, driver, dsn string) error {
	r.logger = ctx.Logger()
	store, key, err := openStore(ctx, driver, dsn)
	if err != nil {
		return err
	}
	r.store, r.poolKey = store, key
	return nil
}

// resolve applies the default database, resolves the DSN's placeholders and
// checks the driver, without I/O. It never echoes the DSN, which may hold a
// password.
func (r *SQLRepository) resolve(repl *caddy.Replacer) (driver, dsn string, err error) {
	if r.Driver == "" && r.DSN == "" {
		driver, dsn = defaultSQLite()
		return driver, dsn, nil
	}
	if !slices.Contains(reposql.Drivers, r.Driver) {
		return "", "", fmt.Errorf("unknown driver %q (want one of %s)", r.Driver, strings.Join(reposql.Drivers, ", "))
	}
	if r.DSN == "" {
		return "", "", fmt.Errorf("%s: missing dsn", r.Driver)
	}
	if dsn, err = resolvePlaceholders(repl, r.DSN); err != nil {
		return "", "", fmt.Errorf("%s: dsn: %w", r.Driver, err)
	}
	return r.Driver, dsn, nil
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
// A change to the file takes effect within a second, without a reload: an
// edit by hand or by `caddy oauth2` does not change Caddy's config, so `caddy
// reload` would not see it. An edit that breaks the file is logged with its
// line, and the last good definitions stay in effect.
type FileRepository struct {
	// Path is the JSON definitions file.
	Path string `json:"path,omitempty"`
	// Tokens is where token state is kept. Default: SQLite at
	// <caddy data dir>/oauth2/oauth2.db.
	Tokens *SQLRepository `json:"tokens,omitempty"`

	defs *file.Watched
}

// definitionsCheckInterval is how often a definitions file is looked at for
// changes: a stat, and a read only when the stat changed.
const definitionsCheckInterval = time.Second

// CaddyModule returns the Caddy module information.
func (FileRepository) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.oauth2.repositories.file",
		New: func() caddy.Module { return new(FileRepository) },
	}
}

// Provision loads the definitions file and opens the token store, after
// checking both settings.
func (r *FileRepository) Provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	path, err := r.resolvePath(repl)
	if err != nil {
		return err
	}
	if r.Tokens == nil {
		r.Tokens = new(SQLRepository)
	}
	driver, dsn, err := r.Tokens.resolve(repl)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}

	defs, err := file.LoadWatched(path)
	if err != nil {
		return err
	}
	r.defs = defs
	if err := r.Tokens.open(ctx, driver, dsn); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	logger := ctx.Logger()
	go defs.Run(ctx, definitionsCheckInterval, func(changed bool, err error) {
		if err != nil {
			logger.Error("definitions file not reloaded; the last good definitions stay in effect",
				zap.String("file", path), zap.Error(err))
		} else if changed {
			logger.Info("definitions file reloaded", zap.String("file", path))
		}
	})
	return nil
}

// resolvePath checks the definitions file's path and resolves its
// placeholders, without I/O.
func (r *FileRepository) resolvePath(repl *caddy.Replacer) (string, error) {
	if r.Path == "" {
		return "", errors.New("missing path of the definitions file")
	}
	path, err := resolvePlaceholders(repl, r.Path)
	if err != nil {
		return "", fmt.Errorf("path: %w", err)
	}
	return path, nil
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
		// Open's errors name the driver and never the DSN, which may hold
		// a password ("connecting to postgres database: ...").
		store, err := reposql.Open(openCtx, driver, dsn)
		if err != nil {
			return nil, err
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

// repositoryNamespace is the module namespace of the repository backends; a
// repository's "backend" names one of its modules.
const repositoryNamespace = "http.oauth2.repositories"

// defaultRepository is the repository of a handler that names none: the sql
// backend, whose empty config is SQLite in Caddy's data directory.
var defaultRepository = json.RawMessage(`{"backend":"sql"}`)

// loadRepository loads the configured repository module, or the default one.
func (h *TokenHandler) loadRepository(ctx caddy.Context) (Repository, error) {
	if h.RepositoryRaw == nil {
		h.RepositoryRaw = defaultRepository
	}
	mod, err := ctx.LoadModule(h, "RepositoryRaw")
	if err != nil {
		return nil, err
	}
	return mod.(Repository), nil
}

// repositoryConfig is what is asked of a repository module's config before
// it is provisioned, without I/O: the handler checks it with the rest of
// its settings, and the caddy oauth2 commands learn where its definitions
// live.
type repositoryConfig interface {
	check(repl *caddy.Replacer) error
	location(repl *caddy.Replacer) (manage.Location, error)
}

// check implements repositoryConfig.
func (r *SQLRepository) check(repl *caddy.Replacer) error {
	_, _, err := r.resolve(repl)
	return err
}

// location implements repositoryConfig.
func (r *SQLRepository) location(repl *caddy.Replacer) (manage.Location, error) {
	driver, dsn, err := r.resolve(repl)
	return manage.Location{Backend: manage.BackendSQL, Driver: driver, DSN: dsn}, err
}

// check implements repositoryConfig.
func (r *FileRepository) check(repl *caddy.Replacer) error {
	if _, err := r.resolvePath(repl); err != nil {
		return err
	}
	if r.Tokens == nil {
		return nil
	}
	if _, _, err := r.Tokens.resolve(repl); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return nil
}

// location implements repositoryConfig. The token store is where the
// commands revoke tokens: the tokens subdirective's database, or the default
// one, as Provision opens it.
func (r *FileRepository) location(repl *caddy.Replacer) (manage.Location, error) {
	path, err := r.resolvePath(repl)
	if err != nil {
		return manage.Location{}, err
	}
	tokens := r.Tokens
	if tokens == nil {
		tokens = new(SQLRepository)
	}
	driver, dsn, err := tokens.resolve(repl)
	if err != nil {
		return manage.Location{}, fmt.Errorf("tokens: %w", err)
	}
	return manage.Location{Backend: manage.BackendFile, Path: path, TokenDriver: driver, TokenDSN: dsn}, nil
}

// decodeRepository decodes a handler's repository config into its module,
// as Caddy's module loader would; no config is the default repository.
func decodeRepository(raw json.RawMessage) (repositoryConfig, error) {
	if raw == nil {
		raw = defaultRepository
	}
	var head struct {
		Backend string `json:"backend"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, err
	}
	info, err := caddy.GetModule(repositoryNamespace + "." + head.Backend)
	if err != nil {
		return nil, fmt.Errorf("unknown backend %q (want sql or file)", head.Backend)
	}
	mod := info.New()
	if err := json.Unmarshal(raw, mod); err != nil {
		return nil, err
	}
	return mod.(repositoryConfig), nil
}

// repositoryLocation returns where a handler's repository keeps its
// definitions.
func repositoryLocation(raw json.RawMessage, repl *caddy.Replacer) (manage.Location, error) {
	mod, err := decodeRepository(raw)
	if err != nil {
		return manage.Location{}, err
	}
	return mod.location(repl)
}

// Interface guards
var (
	_ caddy.Provisioner  = (*SQLRepository)(nil)
	_ caddy.CleanerUpper = (*SQLRepository)(nil)
	_ caddy.Provisioner  = (*FileRepository)(nil)
	_ caddy.CleanerUpper = (*FileRepository)(nil)
	_ Repository         = (*SQLRepository)(nil)
	_ Repository         = (*FileRepository)(nil)
	_ repositoryConfig   = (*SQLRepository)(nil)
	_ repositoryConfig   = (*FileRepository)(nil)
)
