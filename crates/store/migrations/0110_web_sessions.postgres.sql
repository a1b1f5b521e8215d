-- Sessions of the web pages (`server::web`): a person who logged in with
-- name and password holds a random session id in a cookie; only its SHA-256
-- is kept here. A row ends at `expires_at` (UTC, `YYYY-MM-DDThh:mm:ssZ`) or
-- when the person logs out (the row is deleted). `csrf` is the token every
-- form of the session must carry.
CREATE TABLE web_sessions (
    sha256 TEXT COLLATE "C" PRIMARY KEY,
    user_name TEXT COLLATE "C" NOT NULL REFERENCES auth_users (name) DEFERRABLE INITIALLY DEFERRED,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
