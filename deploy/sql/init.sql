-- The user database of v2m (MySQL 5.7+/8, MariaDB 10.3+).
-- Same database, account, grants and table as the original system, plus the
-- `admin`, `token_gen` (bumped to revoke a user's tokens) and
-- `webhook_secret` (signs the user's webhooks; NULL until made) columns and the `login_throttle` table (failed logins per account and per
-- client address, shared by every v2m-auth replica). v2m-auth adds what is
-- missing to a database made by the original's init.sql when it connects.
-- Emails are compared without case: keep the default case-insensitive
-- collation. The demo user georgio@email.com / Admin123 is stored as a
-- yescrypt hash. Safe to run twice. Change the password of auth_user
-- (and MYSQL_PASSWORD of v2m-auth) before you expose the database.
CREATE USER IF NOT EXISTS 'auth_user'@'localhost' IDENTIFIED BY 'Auth123';
CREATE USER IF NOT EXISTS 'auth_user'@'%' IDENTIFIED BY 'Auth123';

CREATE DATABASE IF NOT EXISTS auth;

GRANT ALL PRIVILEGES ON auth.* TO 'auth_user'@'localhost';
GRANT ALL PRIVILEGES ON auth.* TO 'auth_user'@'%';

USE auth;

CREATE TABLE IF NOT EXISTS user (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    password VARCHAR(255) NOT NULL,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    token_gen BIGINT NOT NULL DEFAULT 0,
    webhook_secret VARCHAR(128) NULL
);

-- A table made by an older init.sql lacks webhook_secret: add it (MySQL has
-- no ADD COLUMN IF NOT EXISTS, hence the look into information_schema).
-- v2m-auth and v2m-notification add it too when they connect.
SET @v2m_add_column := (SELECT IF(COUNT(*) = 0,
    'ALTER TABLE user ADD COLUMN webhook_secret VARCHAR(128) NULL', 'DO 0')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'user' AND column_name = 'webhook_secret');
PREPARE v2m_add_column FROM @v2m_add_column;
EXECUTE v2m_add_column;
DEALLOCATE PREPARE v2m_add_column;

CREATE TABLE IF NOT EXISTS login_throttle (
    throttle_key VARCHAR(100) NOT NULL PRIMARY KEY,
    failures INT NOT NULL,
    blocked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT IGNORE INTO user (email, password, admin)
VALUES ('georgio@email.com', '$y$j9T$a/GPhWti9VE1vz.4kIgp00$TvMoiEgB0RQ.X2h/VsLzFPeV8qy7Ncol3TXVVgBUjm.', TRUE);
