-- Users, API tokens and the audit trail of everything done to them.
-- Times are UTC from the server clock as `YYYY-MM-DDThh:mm:ssZ` (fixed
-- width, so text order is time order). Users are never deleted: a name,
-- once given, always means the same person (disable instead).
CREATE TABLE auth_users (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    -- PHC string of an argon2id hash; NULL for an account without a
    -- password (a device or integration that only holds tokens and can
    -- neither log in nor sign)
    password_hash TEXT,
    -- role names separated by single spaces, sorted
    roles TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    -- consecutive wrong passwords since the last right one
    failed_logins BIGINT NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL
);

-- API tokens. Only the SHA-256 of a token is kept; its first characters
-- (`prefix`, public) find the row and name the token in lists and logs.
CREATE TABLE auth_tokens (
    prefix TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES auth_users (name) DEFERRABLE INITIALLY DEFERRED,
    -- the roles the token carries (a subset of its owner's), as in auth_users
    roles TEXT NOT NULL,
    label TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_by TEXT,
    revoked_at TEXT
);
CREATE INDEX auth_tokens_owner ON auth_tokens (owner, prefix);

-- Who did what to which user or token, when; rows are only ever added.
CREATE TABLE auth_audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TRIGGER auth_audit_no_update BEFORE UPDATE ON auth_audit
BEGIN
    SELECT RAISE(ABORT, 'auth_audit is append-only');
END;
CREATE TRIGGER auth_audit_no_delete BEFORE DELETE ON auth_audit
BEGIN
    SELECT RAISE(ABORT, 'auth_audit is append-only');
END;
