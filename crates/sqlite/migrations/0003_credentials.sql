-- Logout, tiers and API keys (issue 10).
--
-- tokens_valid_after: unix millis; tokens issued at or before it are revoked (the last logout).
-- NULL until the first logout. tier: how generous the rate limits are with the user, set by
-- operators (`socialscale user set-tier`).
ALTER TABLE users ADD COLUMN tier TEXT NOT NULL DEFAULT 'standard'
    CHECK (tier IN ('standard', 'trusted'));
ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER;

-- One row per API key. Only the SHA-256 digest of the secret is kept; the id is part of the
-- key a client sends, so authenticating is a primary-key lookup. Keys go with their user.
CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    digest       BLOB    NOT NULL CHECK (length(digest) = 32),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

-- A user's keys oldest first (listing), and the count the cap checks on create.
CREATE INDEX api_keys_user_id_id_idx ON api_keys (user_id, id);
