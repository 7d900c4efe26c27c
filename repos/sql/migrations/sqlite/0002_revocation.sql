-- Revocation, introspection and the refresh reuse interval (DESIGN.md §5a, §8).
--
-- clients.introspect lets a client introspect every token (RFC 7662), not
-- only those issued to itself. Existing clients may not.
ALTER TABLE clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;

-- refresh_tokens.replaced_by is the id of the successor a rotation recorded,
-- written by the UPDATE that consumes the token. A used token presented again
-- finds its successor through it: within the reuse interval the client gets
-- that successor again instead of a replay's revocation, and a rotation run
-- again after a lost COMMIT recognises its own successor. Tokens consumed
-- before this migration have none, so presenting one again is a replay, as it
-- was. Adding a nullable column rewrites no row.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by TEXT;

-- access_tokens holds the access tokens that no refresh_tokens row records:
--
--   - those issued by a retry within the reuse interval, which hands out an
--     existing successor and so inserts no refresh token to record them in.
--     family_id ties them to the family, whose revocation (token_families)
--     revokes them as it revokes the family's refresh tokens;
--   - refused jtis (RFC 7009): an access token of no family, revoked on its
--     own, with revoked_at set and no family_id.
--
-- A rotation that is no retry writes nothing here. Rows are kept until
-- expires_at, the access token's expiry, after which no check needs them and
-- the purge deletes them; like the other token tables it has no index on
-- expiry, which every insert would have to write. WITHOUT ROWID and
-- time-ordered ids, as for the other token tables.
CREATE TABLE access_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT, WITHOUT ROWID;
