-- Definitions: clients, users and scopes. A list column holds space-separated
-- values; NULL means "no restriction", '' an empty list.
CREATE TABLE scopes (
    id          TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE clients (
    id            TEXT NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    secret_hash   TEXT NOT NULL DEFAULT '',
    grants        TEXT,
    scopes        TEXT,
    default_scope TEXT
) STRICT;

CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scopes        TEXT
) STRICT;

-- Token state: one row per refresh token. The access token issued with a
-- refresh token is recorded in its row (access_token_id, the jti), so that a
-- rotation inserts one row, not two, and revoking a family's refresh rows
-- revokes its access tokens too. Access tokens issued without a refresh token
-- are not recorded. Times are unix seconds. Tokens carry no foreign keys: with
-- `repository file` the clients and users they name live in a JSON file, not
-- in these tables.
-- A family is a chain: every rotation links the consumed row to its successor
-- (successor_id, set by the UPDATE that consumes it) and the successor back to
-- it (parent_id), so revoking a family walks the chain by primary key. An index
-- on family_id would do the same with one query, but every rotation would then
-- write a leaf of it at the family's own place in the index: under load that is
-- one more page per family in every commit, a third of a rotation's cost.
-- expires_at has no index either: every index is one more b-tree insert per
-- rotation, no request looks a token up by its expiry, and a purge can sweep
-- the table in primary-key order instead.
-- WITHOUT ROWID makes the primary key the table itself, and token ids start
-- with their creation time (tokens.NewID), so a new row lands on the last
-- page of the table and of the access_token_id index: a rotation dirties few
-- pages, and concurrent ones share them.
CREATE TABLE refresh_tokens (
    id              TEXT NOT NULL PRIMARY KEY,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL DEFAULT '',
    expires_at      INTEGER NOT NULL,
    access_token_id TEXT NOT NULL,
    parent_id       TEXT,
    successor_id    TEXT,
    used_at         INTEGER,
    revoked_at      INTEGER
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX refresh_tokens_access_token_id ON refresh_tokens (access_token_id);
