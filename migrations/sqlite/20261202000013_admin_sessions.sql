-- Operator console sessions (`/admin`): made by signing in with an admin-scoped token, kept in an
-- HttpOnly cookie whose value is stored only as its SHA-256. A session ends at `expires_at`, on
-- sign-out, or as soon as its token is revoked (every request joins `tokens`).
CREATE TABLE admin_sessions (
    id_sha256  TEXT PRIMARY KEY NOT NULL,
    token_name TEXT NOT NULL,
    csrf       TEXT NOT NULL,                                 -- the form token of state-changing posts
    created    TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
