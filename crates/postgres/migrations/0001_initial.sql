-- SocialScale schema for PostgreSQL.
--
-- Conventions, chosen so that one index order serves every list:
-- * ids are UUIDv7 in the native `uuid` type (16 bytes, compared bytewise). A v7 id starts with
--   its creation time in milliseconds, so id order is creation order and keyset pagination is
--   `WHERE id < $cursor ORDER BY id DESC LIMIT n`: a backward walk of a B-tree that stops after
--   n entries, whatever the table size. New ids land at the right edge of the index (no random
--   page splits, unlike v4).
-- * timestamps are timestamptz (millisecond values; the API shows nothing finer).
-- * counters live on the user row and change in the same statement as the write that changes
--   them, so reading a profile never counts rows.

CREATE TABLE users (
    id              uuid        NOT NULL PRIMARY KEY,
    -- Trimmed and lower-cased by the domain already; the unique index below makes the rule
    -- hold for any writer.
    email           text        NOT NULL,
    -- Kept as typed for display; uniqueness ignores case (see the index below).
    username        text        NOT NULL,
    name            text,
    bio             text,
    password_hash   text        NOT NULL,
    created_at      timestamptz NOT NULL,
    -- A negative count can only come from a bug: fail the write loudly instead.
    followers_count bigint      NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count bigint      NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    posts_count     bigint      NOT NULL DEFAULT 0 CHECK (posts_count >= 0)
);

-- Unique ignoring case, decided by the database so that of two racing signups exactly one
-- wins. Lookups use the same expressions (`lower(email) = $1`, `lower(username) = $1`) so that
-- these indexes serve them. Usernames are ASCII, where lower() is exact.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

CREATE TABLE posts (
    id         uuid        NOT NULL PRIMARY KEY,
    author_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- One author's posts newest first (profile pages) and the per-author probe of the feed: an
-- equality on author_id then a backward range on id, no sort. It also serves the foreign key's
-- ON DELETE CASCADE.
CREATE INDEX posts_author_id_id_idx ON posts (author_id, id);

-- One row per edge "follower follows following". The pair is the key (one edge per pair, and
-- "does a follow b" is a key lookup); the edge's own time-ordered id orders the lists.
CREATE TABLE follows (
    follower_id  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    following_id uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id           uuid        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (follower_id, following_id),
    CHECK (follower_id <> following_id)
);

-- "Who follows X", newest follow first (the reverse index: the primary key leads with the
-- follower). INCLUDE carries the other side, so a page is an index-only scan.
CREATE INDEX follows_following_id_id_idx ON follows (following_id, id) INCLUDE (follower_id);
-- "Whom X follows", newest follow first, and the author list of the feed. The primary key leads
-- with follower_id but is ordered by following_id, not by edge id, so it cannot serve a page.
CREATE INDEX follows_follower_id_id_idx ON follows (follower_id, id) INCLUDE (following_id);
