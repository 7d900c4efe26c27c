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
-- rotation inserts one row, not two. Access tokens issued without a refresh
-- token are not recorded. Times are unix seconds. Tokens carry no foreign
-- keys: with `repository file` the clients and users they name live in a JSON
-- file, not in these tables.
--
-- Revocation is kept per family, in token_families: a replay revokes every
-- token descended from one grant, however many rotations that grant has seen,
-- with one write, and a rotation only reads the family's row. The obvious
-- alternative, a revoked_at per token and an index on family_id to revoke them
-- all, would make a revocation cost as many writes as the family has tokens (a
-- client refreshing in a loop could make that millions, inside the one write
-- transaction), and would make every rotation write a leaf of that index at the
-- family's own place in it: under load, one more page per family in every
-- commit.
--
-- WITHOUT ROWID makes the primary key the table itself, and ids start with
-- their creation time (tokens.NewID), so a new row lands on the last page of
-- its table and of the access_token_id index: a rotation dirties few pages,
-- and concurrent ones share them. expires_at has no index: no request looks a
-- token up by its expiry.
CREATE TABLE token_families (
    id         TEXT NOT NULL PRIMARY KEY,
    revoked_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE refresh_tokens (
    id              TEXT NOT NULL PRIMARY KEY,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL DEFAULT '',
    expires_at      INTEGER NOT NULL,
    access_token_id TEXT NOT NULL,
    used_at         INTEGER
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX refresh_tokens_access_token_id ON refresh_tokens (access_token_id);
