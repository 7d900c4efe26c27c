-- The MySQL and MariaDB form of migrations/sqlite/0002_revocation.sql, which
-- explains the design.
--
-- Each statement commits on its own. Run again after a crash, the CREATE
-- skips a table that exists, and an ALTER that finds its column there already
-- fails with ER_DUP_FIELDNAME, which the migration takes for done
-- (mysqlDialect.isApplied): MySQL 8 has no ADD COLUMN IF NOT EXISTS. Both
-- MySQL 8 and MariaDB add a column at the end of a table in place (INSTANT),
-- without copying the table.
ALTER TABLE clients ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE refresh_tokens ADD COLUMN replaced_by VARBINARY(64);

CREATE TABLE IF NOT EXISTS access_tokens (
    id         VARBINARY(64) NOT NULL PRIMARY KEY,
    family_id  VARBINARY(64),
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
) ENGINE=InnoDB;
