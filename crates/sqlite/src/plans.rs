//! The query plan of every statement the repositories run, for tests and for diagnosing a
//! slow database (a plan can change with the SQLite version or after ANALYZE).

use domain::StoreError;
use sqlx::Row;

use crate::error::ResultExt;
use crate::{api_keys, follows, idempotency, outbox, posts, users, SqliteStore};

/// Every statement the ports run, by a stable name.
const STATEMENTS: &[(&str, &str)] = &[
    ("users.insert", users::INSERT),
    ("users.conflict", users::CONFLICT),
    ("users.by_id", users::BY_ID),
    ("users.by_username", users::BY_USERNAME),
    ("users.by_email", users::BY_EMAIL),
    ("users.update_profile", users::UPDATE_PROFILE),
    ("users.summaries", users::SUMMARIES),
    ("users.revoke_tokens", users::REVOKE_TOKENS),
    ("users.set_tier", users::SET_TIER),
    ("api_keys.insert", api_keys::INSERT),
    ("api_keys.by_id", api_keys::BY_ID),
    ("api_keys.list", api_keys::LIST),
    ("api_keys.delete", api_keys::DELETE),
    ("api_keys.touch", api_keys::TOUCH),
    ("posts.insert", posts::INSERT),
    ("posts.by_id", posts::BY_ID),
    ("posts.delete", posts::DELETE),
    ("posts.latest", posts::LATEST),
    ("posts.by_author", posts::BY_AUTHOR),
    ("posts.feed", posts::FEED),
    // The bodies of migration 0002's triggers: EXPLAIN of the INSERT/DELETE does not show them.
    ("posts.trigger_count_up", posts::TRIGGER_COUNT_UP),
    ("posts.trigger_count_down", posts::TRIGGER_COUNT_DOWN),
    ("follows.insert", follows::INSERT),
    ("follows.delete", follows::DELETE),
    ("follows.bump_counters", follows::BUMP_COUNTERS),
    ("follows.followers", follows::FOLLOWERS),
    ("follows.following", follows::FOLLOWING),
    ("follows.follower_ids", follows::FOLLOWER_IDS),
    ("follows.followed_among", follows::FOLLOWED_AMONG),
    ("idempotency_keys.insert", idempotency::INSERT),
    ("idempotency_keys.unclaim", idempotency::UNCLAIM),
    ("idempotency_keys.find", idempotency::FIND),
    ("idempotency_keys.sweep", idempotency::SWEEP),
    ("outbox.pending", outbox::PENDING),
    ("outbox.relayed", outbox::RELAYED),
    ("outbox.backlog", outbox::BACKLOG),
];

/// How SQLite runs one statement.
#[derive(Clone, Debug)]
pub struct QueryPlan {
    /// Stable name, e.g. `posts.latest`.
    pub name: &'static str,
    pub sql: &'static str,
    /// The `detail` column of `EXPLAIN QUERY PLAN`, one step per line, in order (for example
    /// `SEARCH posts USING INDEX posts_author_id_id_idx (author_id=? AND id<?)`).
    pub steps: Vec<String>,
}

impl QueryPlan {
    /// Steps that read a whole table or index. Scanning a constant row, the `json_each` list
    /// of `summaries`, or the feed's in-memory `authors` list is not a table scan (`j`, `a`,
    /// `authors` and `b` are those lists' names).
    pub fn full_scans(&self) -> Vec<&str> {
        self.steps
            .iter()
            .map(String::as_str)
            .filter(|s| s.starts_with("SCAN "))
            .filter(|s| {
                !matches!(
                    *s,
                    "SCAN CONSTANT ROW" | "SCAN a" | "SCAN authors" | "SCAN b" | "SCAN j"
                )
            })
            .filter(|s| !s.starts_with("SCAN json_each"))
            // The outbox holds only rows the relay has not handed on yet: reading its oldest in
            // key order (stopping at LIMIT) and counting it scan it by design.
            .filter(|s| *s != "SCAN feed_outbox")
            .collect()
    }
}

impl SqliteStore {
    /// The current plan of every statement the repositories run. Runs no statement; needs
    /// the schema migrated.
    pub async fn query_plans(&self) -> Result<Vec<QueryPlan>, StoreError> {
        let mut plans = Vec::with_capacity(STATEMENTS.len());
        for &(name, sql) in STATEMENTS {
            // Not cached: this is a diagnostic, and a plan must be computed afresh.
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let rows = sqlx::query(&explain)
                .persistent(false)
                .fetch_all(&self.write)
                .await
                .store()?;
            let steps = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail"))
                .collect::<Result<_, _>>()
                .store()?;
            plans.push(QueryPlan { name, sql, steps });
        }
        Ok(plans)
    }
}
