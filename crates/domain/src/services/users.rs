use std::sync::Arc;

use crate::cache::{ReadCache, Write};
use crate::error::{StoreError, UserError};
use crate::model::{
    Fingerprint, Follow, FollowEdge, FollowId, FollowRecord, IdempotencyKey, KeyClaim, KeyScope,
    Keyset, Page, PageRequest, ProfileUpdate, User, UserId, UserSummary, Username,
};
use crate::ports::{Clock, FollowError, FollowRepository, IdGenerator, UserRepository};

use super::idempotency::Claimed;
use super::{IdempotencyService, Ports};

/// Profiles and the follow graph.
#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    follows: Arc<dyn FollowRepository>,
    cache: ReadCache,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    keys: IdempotencyService,
}

impl UserService {
    pub fn new(ports: &Ports, cache: ReadCache, keys: IdempotencyService) -> Self {
        UserService {
            users: ports.users.clone(),
            follows: ports.follows.clone(),
            cache,
            clock: ports.clock.clone(),
            ids: ports.ids.clone(),
            keys,
        }
    }

    /// Through the cache: every write that moves a counter makes the cached user stale before
    /// it answers (`Write::stale`), so counters are exact once that write has returned.
    pub async fn get(&self, id: UserId) -> Result<User, UserError> {
        let users = &self.users;
        let user = self
            .cache
            .user(id, || async move { users.by_id(id).await })
            .await?
            .ok_or(UserError::NotFound)?;
        Ok(User::clone(&user))
    }

    /// Case-insensitive. A string that cannot be a username finds nobody.
    pub async fn by_username(&self, raw: &str) -> Result<User, UserError> {
        let username = Username::parse(raw).map_err(|_| UserError::NotFound)?;
        self.users
            .by_username(&username)
            .await?
            .ok_or(UserError::NotFound)
    }

    pub async fn update_profile(
        &self,
        id: UserId,
        update: ProfileUpdate,
    ) -> Result<User, UserError> {
        let user = self
            .users
            .update_profile(id, &update)
            .await?
            .ok_or(UserError::NotFound)?;
        // Posts embed the author's summary: every listing shows the change.
        self.cache.written(Write::ProfileEdit { user: id }).await;
        Ok(user)
    }

    pub async fn follow(&self, follower: UserId, target: UserId) -> Result<Follow, UserError> {
        self.follow_with_key(follower, target, None).await
    }

    /// With a key, a retry of the same follow is answered with the follow the first one made
    /// (even if it was undone since), and writes nothing; the same key for another user to
    /// follow is `KeyReused`.
    pub async fn follow_with_key(
        &self,
        follower: UserId,
        target: UserId,
        key: Option<&IdempotencyKey>,
    ) -> Result<Follow, UserError> {
        if follower == target {
            return Err(UserError::CannotFollowSelf);
        }
        let mut edge = FollowRecord {
            id: FollowId::from_uuid(self.ids.new_id()),
            follower_id: follower,
            following_id: target,
            created_at: self.clock.now(),
        };
        let written = match key {
            None => self.follows.follow(&edge).await,
            Some(key) => {
                let claim = KeyClaim {
                    scope: KeyScope::user(follower),
                    key: key.clone(),
                    fingerprint: Fingerprint::of("users.follow")
                        .field("id", Some(&target.to_string()))
                        .finish(),
                };
                let follows = &self.follows;
                match self
                    .keys
                    .write(&claim, || follows.follow_keyed(&edge, &claim))
                    .await
                {
                    Ok(Claimed::Written(())) => Ok(()),
                    Ok(Claimed::Replay(first)) => {
                        edge.created_at = first.created_at;
                        Ok(())
                    }
                    Ok(Claimed::Reused) => return Err(UserError::KeyReused),
                    Err(e) => Err(e),
                }
            }
        };
        match written {
            Ok(()) => {
                // A replay too: the first request may have died between its commit and this.
                self.written_follow(follower, target).await;
                Ok(edge.follow())
            }
            Err(FollowError::AlreadyFollowing) => Err(UserError::AlreadyFollowing),
            Err(FollowError::UnknownUser) => Err(UserError::NotFound),
            Err(FollowError::Store(e)) => Err(e.into()),
        }
    }

    pub async fn unfollow(&self, follower: UserId, target: UserId) -> Result<(), UserError> {
        if self.follows.unfollow(follower, target).await? {
            self.written_follow(follower, target).await;
            Ok(())
        } else {
            Err(UserError::NotFollowing)
        }
    }

    async fn written_follow(&self, follower: UserId, followee: UserId) {
        self.cache
            .written(Write::Follow { follower, followee })
            .await;
    }

    pub async fn followers(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<UserSummary>, UserError> {
        self.get(user).await?;
        let rows = self.follows.followers(user, page.keyset()).await?;
        Ok(edges_page(rows, page))
    }

    pub async fn following(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<UserSummary>, UserError> {
        self.get(user).await?;
        let rows = self.follows.following(user, page.keyset()).await?;
        Ok(edges_page(rows, page))
    }
}

/// Rows per read of [`UserService::followee_ids`].
const FOLLOWEES_BATCH: usize = 1_000;

impl UserService {
    /// Everyone `user` follows, read in batches: whose posts their live stream carries.
    pub async fn followee_ids(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let mut ids = Vec::new();
        let mut before = None;
        loop {
            let q = Keyset {
                before,
                limit: FOLLOWEES_BATCH,
            };
            let rows = self.follows.following(user, q).await?;
            ids.extend(rows.iter().map(|e| e.user.id));
            match rows.last() {
                Some(last) if rows.len() == FOLLOWEES_BATCH => before = Some(last.id.as_uuid()),
                _ => return Ok(ids),
            }
        }
    }
}

fn edges_page(rows: Vec<FollowEdge>, page: PageRequest) -> Page<UserSummary> {
    Page::from_rows(rows, page.limit, |e| e.id.as_uuid()).map(|e| e.user)
}

#[cfg(test)]
mod tests;
