-- The PostgreSQL form of migrations/sqlite/0001_init.sql, which explains the
-- design. TEXT compares byte for byte under PostgreSQL's deterministic
-- collations, so ids match exactly.
--
-- A rotation sets used_at on a token that may be anywhere in the table.
-- PostgreSQL writes an UPDATE as a new row version; when the page has room
-- for it and no indexed column changes, the update is HOT and touches no
-- index. fillfactor = 70 leaves that room, so consuming a token writes one
-- heap page instead of a heap page and a leaf of each index.
CREATE TABLE scopes (
    id          TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE clients (
    id            TEXT NOT NULL PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    secret_hash   TEXT NOT NULL DEFAULT '',
    grants        TEXT,
    scopes        TEXT,
    default_scope TEXT
);

CREATE TABLE users (
    id            TEXT NOT NULL PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scopes        TEXT
);

CREATE TABLE token_families (
    id         TEXT NOT NULL PRIMARY KEY,
    revoked_at BIGINT
);

CREATE TABLE refresh_tokens (
    id              TEXT NOT NULL PRIMARY KEY,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL DEFAULT '',
    expires_at      BIGINT NOT NULL,
    access_token_id TEXT NOT NULL,
    used_at         BIGINT
) WITH (fillfactor = 70);

CREATE UNIQUE INDEX refresh_tokens_access_token_id ON refresh_tokens (access_token_id);
