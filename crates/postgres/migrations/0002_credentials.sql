-- Logout, tiers and API keys (issue 10).
--
-- tokens_valid_after: tokens issued at or before it are revoked (the last logout); NULL until
-- the first logout. tier: how generous the rate limits are with the user, set by operators
-- (`socialscale user set-tier`). Both columns have constant defaults, so adding them rewrites
-- nothing; the CHECK is added NOT VALID (every existing row holds the default) so it does not
-- scan a large users table under an exclusive lock either.
ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'standard';
ALTER TABLE users ADD CONSTRAINT users_tier_check CHECK (tier IN ('standard', 'trusted')) NOT VALID;
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- One row per API key. Only the SHA-256 digest of the secret is kept; the id is part of the
-- key a client sends, so authenticating is a primary-key lookup. Keys go with their user.
CREATE TABLE api_keys (
    id           uuid        NOT NULL PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    digest       bytea       NOT NULL CHECK (octet_length(digest) = 32),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);

-- A user's keys oldest first (listing), the count the cap checks on create, and the foreign
-- key's ON DELETE CASCADE.
CREATE INDEX api_keys_user_id_id_idx ON api_keys (user_id, id);
