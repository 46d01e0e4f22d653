-- Idempotency keys (issue 11): a client's `Idempotency-Key` on POST /posts,
-- POST /users/follow/:id and POST /auth/signup, stored by the write it came with, in that
-- write's own statement, so a crash can never leave a committed write without its key or a
-- key without its write.
--
-- scope: whose key ('user:<id>' for a signed-in caller, 'signup:<email>' for a signup), so two
-- callers never meet on one key. fingerprint: SHA-256 of the operation and its canonical
-- request; a retry must match it. resource: the id of what the write created (post, follow
-- edge, user), from which the first answer is rebuilt. Never a token, never anything derived
-- from a password.
--
-- A key lives 24 hours from created_at (the write's own time). Reads ignore older rows; a new
-- write with the key replaces such a row (ON CONFLICT ... DO UPDATE ... WHERE expired); the
-- server's sweep deletes them in small batches (the created_at index).
CREATE TABLE idempotency_keys (
    scope       text        NOT NULL,
    key         text        NOT NULL,
    fingerprint bytea       NOT NULL CHECK (octet_length(fingerprint) = 32),
    resource    uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
