//! The batch statements of `group`: one multi-row statement per kind, each item's key (if
//! any) claimed in it next to its row, and the key columns they are bound with.

use super::Item;
use crate::idempotency::claimed;

/// The claims of a batch's items, in the CTE every batch statement has (`claimed`): from `fit`
/// (the items that can be written), those with a key; `$5..$7` of the statement are the keys'
/// columns (NULL for an item without one), `$8` their lifetime.
macro_rules! claim_fitting_items {
    () => {
        claimed!(
            "SELECT f.scope, f.key, f.fingerprint, f.id, f.created_at FROM fit AS f \
             WHERE f.key IS NOT NULL",
            "$8"
        )
    };
}

/// `$1..$4`: the batch as arrays, `$5..$7` the items' keys (see [`claim_fitting_items`]),
/// `$8` the keys' lifetime; returns the ordinal (1-based) of every item inserted. The users'
/// rows are updated in id order (the aggregate is sorted), the order every other multi-user
/// write here takes, to keep deadlocks rare.
pub(crate) const CREATE_BATCH: &str = concat!(
    "WITH input AS ( \
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], \
                             $5::text[], $6::text[], $7::bytea[]) \
            WITH ORDINALITY AS t(id, author_id, content, created_at, scope, key, fingerprint, ord) \
    ), \
    fit AS ( \
        SELECT i.* FROM input AS i \
        WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.author_id) \
          AND NOT EXISTS (SELECT 1 FROM posts AS p WHERE p.id = i.id) \
    ), ",
    claim_fitting_items!(),
    ", \
    ins AS ( \
        INSERT INTO posts (id, author_id, content, created_at) \
        SELECT f.id, f.author_id, f.content, f.created_at FROM fit AS f \
        WHERE f.key IS NULL OR f.id IN (SELECT resource FROM claimed) \
        RETURNING id, author_id \
    ), \
    bump AS ( \
        UPDATE users SET posts_count = users.posts_count + c.n \
        FROM (SELECT author_id, count(*) AS n FROM ins GROUP BY author_id ORDER BY author_id) AS c \
        WHERE users.id = c.author_id \
    ) \
    SELECT i.ord FROM input AS i JOIN ins ON ins.id = i.id"
);

/// The same for edges: `$1` ids, `$2` followers, `$3` followed users, `$4` times, `$5..$8` the
/// keys as for posts. Both counters of every user touched move by the sum of their new edges.
pub(crate) const FOLLOW_BATCH: &str = concat!(
    "WITH input AS ( \
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                             $5::text[], $6::text[], $7::bytea[]) \
            WITH ORDINALITY AS t(id, follower_id, following_id, created_at, scope, key, fingerprint, ord) \
    ), \
    fit AS ( \
        SELECT i.* FROM input AS i \
        WHERE i.follower_id <> i.following_id \
          AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.follower_id) \
          AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = i.following_id) \
          AND NOT EXISTS (SELECT 1 FROM follows AS e \
                          WHERE e.follower_id = i.follower_id AND e.following_id = i.following_id) \
          AND NOT EXISTS (SELECT 1 FROM follows AS e WHERE e.id = i.id) \
    ), ",
    claim_fitting_items!(),
    ", \
    ins AS ( \
        INSERT INTO follows (id, follower_id, following_id, created_at) \
        SELECT f.id, f.follower_id, f.following_id, f.created_at FROM fit AS f \
        WHERE f.key IS NULL OR f.id IN (SELECT resource FROM claimed) \
        RETURNING id, follower_id, following_id \
    ), \
    delta AS ( \
        SELECT id, sum(out_n) AS out_n, sum(in_n) AS in_n FROM ( \
            SELECT follower_id AS id, 1 AS out_n, 0 AS in_n FROM ins \
            UNION ALL \
            SELECT following_id, 0, 1 FROM ins \
        ) AS d GROUP BY id ORDER BY id \
    ), \
    bump AS ( \
        UPDATE users SET \
            following_count = users.following_count + delta.out_n, \
            followers_count = users.followers_count + delta.in_n \
        FROM delta WHERE users.id = delta.id \
    ) \
    SELECT i.ord FROM input AS i JOIN ins ON ins.id = i.id"
);

/// The items' keys as the statements' `$5..$7` columns (NULL for an item without a key).
pub(super) struct KeyColumns<'a> {
    pub(super) scopes: Vec<Option<&'a str>>,
    pub(super) keys: Vec<Option<&'a str>>,
    pub(super) fingerprints: Vec<Option<&'a [u8]>>,
}

pub(super) fn key_columns<'a, T>(batch: &'a [Item<T>], sent: &[usize]) -> KeyColumns<'a> {
    let claims = || sent.iter().map(|&i| batch[i].1.as_ref());
    KeyColumns {
        scopes: claims().map(|c| c.map(|c| c.scope.as_str())).collect(),
        keys: claims().map(|c| c.map(|c| c.key.as_str())).collect(),
        fingerprints: claims()
            .map(|c| c.map(|c| &c.fingerprint.as_bytes()[..]))
            .collect(),
    }
}
