//! `socialscale seed`: generated users, follows and posts, for benchmarks and demos.

use std::time::Instant;

use anyhow::Context;
use domain::model::{
    Email, FollowId, FollowRecord, NewUser, Password, PostId, PostRecord, UserId, Username,
};
use domain::ports::{Clock, IdGenerator, PasswordHasher};
use local::{Argon2Hasher, HasherConfig, SystemClock, UuidV7Generator};

use crate::backends::Database;
use crate::config::{Config, SeedArgs};

/// Every seeded account has this password, so load tests can log in.
pub const SEED_PASSWORD: &str = "seed-password";

pub async fn seed(config: &Config, args: &SeedArgs) -> anyhow::Result<()> {
    let db = Database::open(config).await?;
    let ids = UuidV7Generator;
    let clock = SystemClock;
    let hasher = Argon2Hasher::new(HasherConfig::default()).context("password hasher")?;
    let password = Password::parse_new(SEED_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    // One hash for all: hashing is deliberately slow and the accounts are interchangeable.
    let hash = hasher.hash(&password).await?;
    let tag: u32 = rand::random::<u32>() % 1_000_000;
    let started = Instant::now();

    let mut users = Vec::with_capacity(args.users as usize);
    for i in 0..args.users {
        let new = NewUser {
            id: UserId::from_uuid(ids.new_id()),
            email: Email::parse(&format!("seed{tag}.{i}@example.com"))?,
            username: Username::parse(&format!("s{tag}_{i}"))?,
            name: None,
            password_hash: hash.clone(),
            created_at: clock.now(),
        };
        let user = db
            .users
            .create(&new)
            .await
            .map_err(|e| anyhow::anyhow!("creating user {i}: {e}"))?;
        users.push(user.id);
    }
    let n = users.len();
    let mut follows = 0u64;
    if n > 1 {
        for (i, follower) in users.iter().enumerate() {
            for k in 1..=(args.follows as usize).min(n - 1) {
                // A fixed pattern (i+k²) spreads follows without a random generator per edge.
                let target = users[(i + k * k) % n];
                if target == *follower {
                    continue;
                }
                let edge = FollowRecord {
                    id: FollowId::from_uuid(ids.new_id()),
                    follower_id: *follower,
                    following_id: target,
                    created_at: clock.now(),
                };
                if db.follows.follow(&edge).await.is_ok() {
                    follows += 1;
                }
            }
        }
    }
    if n > 0 {
        for i in 0..args.posts as usize {
            let post = PostRecord {
                id: PostId::from_uuid(ids.new_id()),
                author_id: users[i % n],
                content: format!("Seeded post number {i}. Hello from SocialScale!"),
                created_at: clock.now(),
            };
            db.posts.create(&post).await?;
        }
    }
    db.close().await;
    println!(
        "seeded {n} users (password {SEED_PASSWORD:?}, emails seed{tag}.<i>@example.com), \
         {follows} follows, {} posts in {:.1}s",
        args.posts,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
