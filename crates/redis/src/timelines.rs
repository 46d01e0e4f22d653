//! Fan-out home timelines in Redis: [`RedisTimelines`], the [`TimelineStore`].
//!
//! Per user, three keys sharing one hash tag (the user's id), so each operation on one user is
//! one Lua script on one cluster slot:
//! - `tl:{user}`: the timeline, a sorted set with every score 0 whose members are the post id's
//!   16 bytes then the author id's 16 bytes. Lex order is post-id order (UUIDv7, so time
//!   order): the newest are at the top, and `(` + a post id's 16 bytes is an exclusive upper
//!   bound for a cursor (every member with that id sorts above it).
//! - `tls:{user}`: its state, `b` while a rebuild holds it (lives `building`), `r` when ready
//!   (lives `inactive`, renewed by every read). A timeline without a state does not exist.
//!   Once the cap or an incomplete merge has cut the timeline, the letter is followed by its
//!   floor (16 id bytes): the timeline holds every post it should from there up, and nothing is
//!   ever stored below it (`lua/tl_settle.lua`), so reads continue below the oldest entry from
//!   the database without a seam.
//! - `fg:{user}`: the last applied change of each follow edge, field = followee id bytes,
//!   value `<seq>:f` or `<seq>:u` (lives `edges` from the last change: long past any event's
//!   delay in the stream).
//!
//! Operations on many users make one script call per user, in batches, never one script over
//! many users' keys (they live in different slots): pipelined on one server, concurrent on a
//! cluster (where a pipeline must stay within one slot).
//!
//! The pulled-author set is a hash (`{fanout}:pulled`, field = author id bytes, value =
//! generation) with a version counter and a generation counter, all under one hash tag.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::model::{PostId, TimelineEntry, UserId};
use domain::ports::{EdgeChange, PulledAuthors, TimelineStore, TimelineWindow};
use domain::StoreError;
use redis::{Cmd, FromRedisValue, Script, ScriptInvocation};
use uuid::Uuid;

use crate::shared::RedisShared;

mod batch;

use batch::{each, pipelined, BATCH};

/// Tuning for [`RedisTimelines`].
#[derive(Clone, Debug)]
pub struct TimelineSettings {
    /// Entries kept per timeline; older ones are dropped.
    pub cap: usize,
    /// A timeline not read for this long expires (and is rebuilt on the next read).
    pub inactive: Duration,
    /// How long a rebuild's claim holds: past it another reader may rebuild.
    pub building: Duration,
    /// How long the last change of a follow edge is remembered.
    pub edges: Duration,
}

impl Default for TimelineSettings {
    fn default() -> Self {
        TimelineSettings {
            cap: 800,
            inactive: Duration::from_secs(7 * 24 * 3600),
            building: Duration::from_secs(30),
            edges: Duration::from_secs(24 * 3600),
        }
    }
}

/// The [`TimelineStore`] over Redis.
pub struct RedisTimelines {
    redis: Arc<RedisShared>,
    settings: TimelineSettings,
    window: Script,
    push: Script,
    apply_edge: Script,
    begin_rebuild: Script,
    finish_rebuild: Script,
    mark_pulled: Script,
    pulled: Script,
    unmark_pulled: Script,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A timeline member: the post id's bytes, then the author's.
fn member(e: &TimelineEntry) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(e.post.as_uuid().as_bytes());
    m.extend_from_slice(e.author.as_uuid().as_bytes());
    m
}

fn entry(m: &[u8]) -> Option<TimelineEntry> {
    if m.len() != 32 {
        return None;
    }
    Some(TimelineEntry {
        post: PostId::from_uuid(Uuid::from_slice(&m[..16]).ok()?),
        author: UserId::from_uuid(Uuid::from_slice(&m[16..]).ok()?),
    })
}

/// The oldest of `entries` as a member, or `''` (the scripts' "none").
fn lowest(entries: &[TimelineEntry]) -> Vec<u8> {
    entries.iter().min().map(member).unwrap_or_default()
}

impl RedisTimelines {
    pub fn new(redis: Arc<RedisShared>, settings: TimelineSettings) -> Self {
        RedisTimelines {
            redis,
            settings,
            window: Script::new(include_str!("lua/tl_window.lua")),
            push: Script::new(concat!(
                include_str!("lua/tl_settle.lua"),
                include_str!("lua/tl_push.lua")
            )),
            apply_edge: Script::new(concat!(
                include_str!("lua/tl_settle.lua"),
                include_str!("lua/tl_apply_edge.lua")
            )),
            begin_rebuild: Script::new(include_str!("lua/tl_begin_rebuild.lua")),
            finish_rebuild: Script::new(concat!(
                include_str!("lua/tl_settle.lua"),
                include_str!("lua/tl_finish_rebuild.lua")
            )),
            mark_pulled: Script::new(include_str!("lua/pulled_mark.lua")),
            pulled: Script::new(include_str!("lua/pulled_list.lua")),
            unmark_pulled: Script::new(include_str!("lua/pulled_unmark.lua")),
        }
    }

    pub fn settings(&self) -> &TimelineSettings {
        &self.settings
    }

    fn key(&self, kind: &str, user: UserId) -> String {
        format!("{}{kind}:{{{}}}", self.redis.prefix(), user.as_uuid())
    }

    /// Timeline, state and edges of `user`.
    fn keys(&self, user: UserId) -> [String; 3] {
        [
            self.key("tl", user),
            self.key("tls", user),
            self.key("fg", user),
        ]
    }

    fn pulled_keys(&self) -> [String; 3] {
        let p = self.redis.prefix();
        [
            format!("{p}{{fanout}}:pulled"),
            format!("{p}{{fanout}}:pulled:v"),
            format!("{p}{{fanout}}:pulled:g"),
        ]
    }

    fn cap(&self) -> u64 {
        u64::try_from(self.settings.cap).unwrap_or(u64::MAX)
    }

    /// Runs one script once per invocation, pipelined, in batches of [`BATCH`].
    async fn per_user<T: FromRedisValue + Send>(
        &self,
        script: &Script,
        invocations: Vec<ScriptInvocation<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(invocations.len());
        for batch in invocations.chunks(BATCH) {
            let got: Vec<T> = self
                .redis
                .call(|mut c| async move { pipelined(&mut c, script, batch).await })
                .await?;
            out.extend(got);
        }
        Ok(out)
    }
}

#[async_trait]
impl TimelineStore for RedisTimelines {
    async fn window(
        &self,
        user: UserId,
        before: Option<PostId>,
        n: usize,
    ) -> Result<TimelineWindow, StoreError> {
        let [tl, tls, _] = self.keys(user);
        let upper = match before {
            Some(id) => [&b"("[..], id.as_uuid().as_bytes()].concat(),
            None => b"+".to_vec(),
        };
        let limit = u64::try_from(n).unwrap_or(u64::MAX).min(i64::MAX as u64);
        let life = millis(self.settings.inactive);
        let script = &self.window;
        let (state, members): (i64, Vec<Vec<u8>>) = self
            .redis
            .call(|mut c| async move {
                let mut inv = script.key(tl);
                inv.key(tls).arg(upper).arg(limit).arg(life);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(match state {
            0 => TimelineWindow::Missing,
            1 => TimelineWindow::Building,
            _ => {
                let got = members.len();
                let entries: Vec<TimelineEntry> = members
                    .iter()
                    .filter_map(|m| {
                        let e = entry(m);
                        if e.is_none() {
                            tracing::warn!(%user, len = m.len(), "skipping a malformed timeline member");
                        }
                        e
                    })
                    .collect();
                TimelineWindow::Ready {
                    entries,
                    exhausted: got < n,
                }
            }
        })
    }

    async fn push(&self, entry: TimelineEntry, users: &[UserId]) -> Result<usize, StoreError> {
        let m = member(&entry);
        let author = entry.author.as_uuid();
        let (cap, life) = (self.cap(), millis(self.settings.inactive));
        let invocations = users
            .iter()
            .map(|&u| {
                let [tl, tls, fg] = self.keys(u);
                let mut inv = self.push.key(tl);
                inv.key(tls)
                    .key(fg)
                    .arg(m.as_slice())
                    .arg(author.as_bytes())
                    .arg(cap)
                    .arg(life);
                inv
            })
            .collect();
        let written: Vec<i64> = self.per_user(&self.push, invocations).await?;
        Ok(written.into_iter().filter(|&w| w == 1).count())
    }

    async fn remove(&self, entry: TimelineEntry, users: &[UserId]) -> Result<(), StoreError> {
        let m = member(&entry);
        for batch in users.chunks(BATCH) {
            let cmds: Vec<Cmd> = batch
                .iter()
                .map(|&u| redis::Cmd::zrem(self.key("tl", u), m.as_slice()))
                .collect();
            let cmds = &cmds;
            self.redis
                .call(|mut c| async move { each(&mut c, cmds).await })
                .await?;
        }
        Ok(())
    }

    async fn apply_edge(
        &self,
        user: UserId,
        followee: UserId,
        seq: i64,
        change: EdgeChange,
    ) -> Result<bool, StoreError> {
        let [tl, tls, fg] = self.keys(user);
        let (kind, posts, complete) = match &change {
            EdgeChange::Followed { posts, complete } => ("f", posts.as_slice(), *complete),
            EdgeChange::Unfollowed => ("u", &[][..], true),
        };
        let script = &self.apply_edge;
        let mut inv = script.key(tl);
        inv.key(tls)
            .key(fg)
            .arg(followee.as_uuid().as_bytes())
            .arg(seq.to_string())
            .arg(kind)
            .arg(millis(self.settings.edges))
            .arg(self.cap())
            .arg(if complete { "1" } else { "0" })
            .arg(lowest(posts));
        for p in posts {
            inv.arg(member(p));
        }
        let inv = &inv;
        let applied: i64 = self
            .redis
            .call(|mut c| async move { inv.invoke_async(&mut c).await })
            .await?;
        Ok(applied == 1)
    }

    async fn begin_rebuild(&self, user: UserId) -> Result<bool, StoreError> {
        let [tl, tls, _] = self.keys(user);
        let script = &self.begin_rebuild;
        let hold = millis(self.settings.building);
        let claimed: i64 = self
            .redis
            .call(|mut c| async move {
                let mut inv = script.key(tl);
                inv.key(tls).arg(hold);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn finish_rebuild(
        &self,
        user: UserId,
        entries: &[TimelineEntry],
        complete: bool,
    ) -> Result<(), StoreError> {
        let [tl, tls, fg] = self.keys(user);
        let mut inv = self.finish_rebuild.key(tl);
        inv.key(tls)
            .key(fg)
            .arg(self.cap())
            .arg(millis(self.settings.inactive))
            .arg(if complete { "1" } else { "0" })
            .arg(lowest(entries));
        for e in entries {
            inv.arg(member(e));
        }
        let inv = &inv;
        self.redis
            .call(|mut c| async move { inv.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    async fn drop_timelines(&self, users: &[UserId]) -> Result<(), StoreError> {
        for batch in users.chunks(BATCH) {
            // Both keys of a user share a slot (one hash tag): one command even on a cluster.
            let cmds: Vec<Cmd> = batch
                .iter()
                .map(|&u| redis::Cmd::del(&[self.key("tl", u), self.key("tls", u)]))
                .collect();
            let cmds = &cmds;
            self.redis
                .call(|mut c| async move { each(&mut c, cmds).await })
                .await?;
        }
        Ok(())
    }

    async fn mark_pulled(&self, author: UserId) -> Result<(), StoreError> {
        let [h, v, g] = self.pulled_keys();
        let script = &self.mark_pulled;
        self.redis
            .call(|mut c| async move {
                let mut inv = script.key(h);
                inv.key(v).key(g).arg(author.as_uuid().as_bytes());
                inv.invoke_async::<i64>(&mut c).await
            })
            .await?;
        Ok(())
    }

    async fn pulled_authors(&self) -> Result<PulledAuthors, StoreError> {
        let [h, v, _] = self.pulled_keys();
        let script = &self.pulled;
        let (version, flat): (u64, Vec<Vec<u8>>) = self
            .redis
            .call(|mut c| async move {
                let mut inv = script.key(h);
                inv.key(v);
                inv.invoke_async(&mut c).await
            })
            .await?;
        let mut authors = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let author = Uuid::from_slice(&pair[0]).ok();
            let generation = std::str::from_utf8(&pair[1])
                .ok()
                .and_then(|g| g.parse::<u64>().ok());
            match (author, generation) {
                (Some(a), Some(g)) => authors.push((UserId::from_uuid(a), g)),
                _ => tracing::warn!("skipping a malformed pulled-author field"),
            }
        }
        authors.sort();
        Ok(PulledAuthors { version, authors })
    }

    async fn unmark_pulled(&self, author: UserId, generation: u64) -> Result<bool, StoreError> {
        let [h, v, _] = self.pulled_keys();
        let script = &self.unmark_pulled;
        let taken: i64 = self
            .redis
            .call(|mut c| async move {
                let mut inv = script.key(h);
                inv.key(v)
                    .arg(author.as_uuid().as_bytes())
                    .arg(generation.to_string());
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(taken == 1)
    }
}
