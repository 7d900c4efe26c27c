-- The MySQL and MariaDB form of migrations/sqlite/0001_init.sql, which
-- explains the design.
--
-- Keys are VARBINARY: MySQL's default collations compare case-insensitively
-- and ignore trailing spaces, which would let "Web " find the client "web" and
-- make token ids that differ in case collide. Binary strings compare byte for
-- byte. Other text is utf8mb4.
--
-- MySQL commits each DDL statement on its own, so a migration cannot be rolled
-- back as a whole: every statement is written to be run again after a crash
-- (IF NOT EXISTS, indexes declared inside CREATE TABLE).
CREATE TABLE IF NOT EXISTS scopes (
    id          VARBINARY(255) NOT NULL PRIMARY KEY,
    description VARCHAR(1024) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS clients (
    id            VARBINARY(255) NOT NULL PRIMARY KEY,
    name          VARCHAR(255) NOT NULL DEFAULT '',
    secret_hash   VARCHAR(255) NOT NULL DEFAULT '',
    grants        TEXT,
    scopes        TEXT,
    default_scope TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS users (
    id            VARBINARY(255) NOT NULL PRIMARY KEY,
    username      VARBINARY(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    scopes        TEXT,
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS token_families (
    id         VARBINARY(64) NOT NULL PRIMARY KEY,
    revoked_at BIGINT
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS refresh_tokens (
    id              VARBINARY(64) NOT NULL PRIMARY KEY,
    family_id       VARBINARY(64) NOT NULL,
    client_id       VARBINARY(255) NOT NULL,
    user_id         VARBINARY(255) NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    access_token_id VARBINARY(64) NOT NULL,
    used_at         BIGINT,
    UNIQUE KEY refresh_tokens_access_token_id (access_token_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
