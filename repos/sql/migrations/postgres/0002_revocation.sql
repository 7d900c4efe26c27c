-- The PostgreSQL form of migrations/sqlite/0002_revocation.sql, which explains
-- the design.
--
-- Neither ALTER rewrites its table: a column with a constant default, or
-- none, is added to the catalog only. replaced_by is not indexed, so the
-- UPDATE that consumes a token, which now writes it beside used_at, stays a
-- HOT update (0001's fillfactor leaves room for the longer row).
ALTER TABLE clients ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;

CREATE TABLE access_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
