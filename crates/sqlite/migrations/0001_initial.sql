-- SocialScale schema for SQLite.
--
-- Conventions, chosen so that one byte-wise comparison orders everything:
-- * ids are UUIDv7 stored as TEXT in hyphenated lower-case form. Their lexicographic order is
--   their creation order, so keyset pagination is `WHERE id < ? ORDER BY id DESC`.
-- * timestamps are INTEGER unix milliseconds (what the API shows, nothing finer).
-- * counters live on the user row and are changed in the same transaction as the write that
--   changes them, so reading a profile never counts rows.

CREATE TABLE users (
    id              TEXT    NOT NULL PRIMARY KEY,
    -- Already trimmed and lower-cased by the domain, so plain UNIQUE is case-insensitive.
    email           TEXT    NOT NULL UNIQUE,
    -- Kept as typed for display; uniqueness ignores case (see the index below).
    username        TEXT    NOT NULL,
    name            TEXT,
    bio             TEXT,
    password_hash   TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    -- A negative count can only come from a bug: fail the write loudly instead.
    followers_count INTEGER NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count INTEGER NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    posts_count     INTEGER NOT NULL DEFAULT 0 CHECK (posts_count >= 0)
);

-- Usernames are unique ignoring case, decided by the database so that of two racing signups
-- exactly one wins. Usernames are ASCII, where lower() is exact. Lookups by name use the same
-- expression (`lower(username) = ?`) so that they are served by this index.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE posts (
    id         TEXT    NOT NULL PRIMARY KEY,
    author_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- One author's posts newest first (profile pages) and the per-author probe of the feed query:
-- an equality on author_id then a descending range on id, no sort.
CREATE INDEX posts_author_id_id_idx ON posts (author_id, id);

-- One row per edge "follower follows following". The pair is the key (one edge per pair, and
-- "does a follow b" is a key lookup); the edge's own time-ordered id orders the lists.
--
-- WITHOUT ROWID: rows are small and every secondary index then carries the primary key columns,
-- so both list indexes below are covering (no lookup back into the table).
CREATE TABLE follows (
    id           TEXT    NOT NULL UNIQUE,
    follower_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    following_id TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (follower_id, following_id),
    CHECK (follower_id <> following_id)
) WITHOUT ROWID;

-- "Who follows X", newest follow first.
CREATE INDEX follows_following_id_id_idx ON follows (following_id, id);
-- "Whom X follows", newest follow first. The primary key already leads with follower_id but is
-- ordered by following_id, not by edge id, so it cannot serve a keyset page.
CREATE INDEX follows_follower_id_id_idx ON follows (follower_id, id);
