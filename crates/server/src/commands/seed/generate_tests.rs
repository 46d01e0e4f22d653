use std::collections::HashSet;

use super::*;

const NOW: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

fn plan(users: u32, follows: u32, posts: u64, seed: u64) -> Plan {
    Plan {
        users,
        follows,
        posts,
        days: 30,
        seed,
        now_ms: NOW,
    }
}

fn rows(p: &Plan) -> (Vec<NewUser>, Vec<FollowRecord>, Vec<PostRecord>) {
    let g = Generator::new(p.clone(), "hash".into());
    let users = (0..p.users).map(|i| g.user(i).unwrap()).collect();
    (users, g.follows().collect(), g.posts().collect())
}

#[test]
fn the_same_seed_gives_the_same_rows_and_another_seed_other_rows() {
    let p = plan(300, 10, 2_000, 7);
    let (u1, f1, p1) = rows(&p);
    let (u2, f2, p2) = rows(&p);
    assert_eq!(u1, u2);
    assert_eq!(f1, f2);
    assert_eq!(p1, p2);
    let (u3, f3, p3) = rows(&Plan { seed: 8, ..p });
    assert_ne!(u1[0].id, u3[0].id);
    assert_ne!(f1, f3);
    assert_ne!(p1, p3);
}

#[test]
fn no_self_follows_no_duplicate_edges_and_unique_ids() {
    let (users, follows, posts) = rows(&plan(500, 40, 5_000, 1));
    let known: HashSet<_> = users.iter().map(|u| u.id).collect();
    let mut pairs = HashSet::new();
    for f in &follows {
        assert_ne!(f.follower_id, f.following_id, "self-follow");
        assert!(
            pairs.insert((f.follower_id, f.following_id)),
            "duplicate edge"
        );
        assert!(known.contains(&f.follower_id) && known.contains(&f.following_id));
    }
    let edge_ids: HashSet<_> = follows.iter().map(|f| f.id).collect();
    assert_eq!(edge_ids.len(), follows.len());
    let post_ids: HashSet<_> = posts.iter().map(|p| p.id).collect();
    assert_eq!(post_ids.len(), posts.len());
    assert_eq!(posts.len(), 5_000);
}

#[test]
fn follows_average_the_mean_and_vary_per_user() {
    let p = plan(5_000, 20, 0, 3);
    let g = Generator::new(p, "hash".into());
    let mut follows = g.follows();
    let n = follows.by_ref().count() as f64;
    let (_, following) = follows.counts();
    let mean = n / 5_000.0;
    assert!((16.0..=24.0).contains(&mean), "mean follows {mean}");
    let max = *following.iter().max().unwrap();
    let min = *following.iter().min().unwrap();
    assert!(
        min >= 1 && max >= 100,
        "follows per user should be skewed: {min}..{max}"
    );
}

#[test]
fn follower_counts_are_heavy_tailed() {
    let users = 20_000;
    let g = Generator::new(plan(users, 20, 0, 11), "hash".into());
    let mut follows = g.follows();
    let total = follows.by_ref().count() as f64;
    let (mut followers, _) = follows.counts();
    followers.sort_unstable_by(|a, b| b.cmp(a));
    // The top 0.1% of accounts (20 of 20,000) hold a large share of every follow: about 14%
    // by construction, against 0.1% if follows were spread evenly.
    let top: u32 = followers[..(users / 1000) as usize].iter().sum();
    let share = f64::from(top) / total;
    assert!(share > 0.08, "top 0.1% hold {share:.3} of follows");
    // …while the median account still has a dozen or more followers.
    let median = followers[followers.len() / 2];
    assert!((8..=30).contains(&median), "median followers {median}");
    assert!(
        followers[0] > 50 * median,
        "top {} vs median {median}",
        followers[0]
    );
}

#[test]
fn posting_is_skewed_to_an_active_minority() {
    let g = Generator::new(plan(10_000, 5, 100_000, 5), "hash".into());
    let mut posts = g.posts();
    assert_eq!(posts.by_ref().count(), 100_000);
    let mut per_author = posts.counts();
    per_author.sort_unstable_by(|a, b| b.cmp(a));
    let top_fifth: u32 = per_author[..2_000].iter().sum();
    assert!(
        top_fifth > 50_000,
        "the most active fifth wrote {top_fifth} of 100,000"
    );
}

#[test]
fn times_lie_in_the_window_ids_match_them_and_posts_come_oldest_first() {
    let p = plan(200, 10, 3_000, 2);
    let start = NOW - 30 * 86_400_000;
    let (users, follows, posts) = rows(&p);
    let joined: std::collections::HashMap<_, _> = users
        .iter()
        .map(|u| (u.id, u.created_at.unix_millis()))
        .collect();
    let ms = |id: Uuid| {
        id.get_timestamp()
            .map(|t| t.to_unix())
            .map(|(s, n)| s as i64 * 1000 + i64::from(n) / 1_000_000)
    };
    for u in &users {
        let t = u.created_at.unix_millis();
        assert!(t >= start && t < NOW);
        assert_eq!(ms(u.id.as_uuid()), Some(t));
    }
    for f in &follows {
        let t = f.created_at.unix_millis();
        assert!(t >= joined[&f.follower_id] && t >= joined[&f.following_id] && t < NOW);
        assert_eq!(ms(f.id.as_uuid()), Some(t));
    }
    for w in posts.windows(2) {
        assert!(w[0].created_at <= w[1].created_at);
    }
    for post in &posts {
        let t = post.created_at.unix_millis();
        assert!(t >= joined[&post.author_id] && t < NOW);
        assert_eq!(ms(post.id.as_uuid()), Some(t));
        assert!((1..=280).contains(&post.content.chars().count()));
    }
}

#[test]
fn accounts_are_named_by_index_and_seed() {
    let g = Generator::new(plan(3, 1, 0, 123_456), "hash".into());
    let u = g.user(2).unwrap();
    assert_eq!(u.username.as_str(), "u2_s23456");
    assert_eq!(u.email.as_str(), "u2_s23456@example.com");
    assert_eq!(email(123_456, 2), "u2_s23456@example.com");
}
