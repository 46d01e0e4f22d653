//! The flags of `socialscale seed` and its presets.

use clap::{Args, ValueEnum};

/// `socialscale seed`: a preset, or sizes; a size given next to a preset replaces the preset's.
#[derive(Args, Debug, Clone, Default)]
pub struct SeedArgs {
    /// A ready-made size: 10k, 100k or 1m users (see `docs/BENCHMARKS.md` for what each holds).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Users to create [default: 1000].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50_000_000))]
    pub users: Option<u32>,
    /// Mean number of accounts each user follows (the spread is log-normal) [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=5_000))]
    pub follows: Option<u32>,
    /// Posts to create, skewed towards an active minority [default: 10000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000))]
    pub posts: Option<u64>,
    /// The window, in days before now, that accounts, follows and posts are spread over
    /// [default: 30].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3_650))]
    pub days: Option<u32>,
    /// The random seed: the same seed gives the same data. It also names the accounts
    /// (`u<i>_s<seed % 100000>@example.com`), so two seeds can share a database (`--append`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Add to a database that already has users (else a non-empty database is refused).
    #[arg(long)]
    pub append: bool,
}

/// `--preset`: sizes of the scaling path's steps.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    #[value(name = "10k")]
    TenThousand,
    #[value(name = "100k")]
    HundredThousand,
    #[value(name = "1m")]
    Million,
}

/// Resolved seed sizes: users, mean follows, posts, days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedSize {
    pub users: u32,
    pub follows: u32,
    pub posts: u64,
    pub days: u32,
}

impl SeedArgs {
    /// The sizes to generate, or one line naming the flag that cannot work.
    pub fn size(&self) -> Result<SeedSize, String> {
        let base = match self.preset {
            None => SeedSize {
                users: 1_000,
                follows: 20,
                posts: 10_000,
                days: 30,
            },
            Some(Preset::TenThousand) => SeedSize {
                users: 10_000,
                follows: 20,
                posts: 200_000,
                days: 30,
            },
            Some(Preset::HundredThousand) => SeedSize {
                users: 100_000,
                follows: 20,
                posts: 1_000_000,
                days: 90,
            },
            // 25 × 1M ≈ 25M edges, 10.5M posts: above the 20M/10M the 1m step promises.
            Some(Preset::Million) => SeedSize {
                users: 1_000_000,
                follows: 25,
                posts: 10_500_000,
                days: 365,
            },
        };
        let size = SeedSize {
            users: self.users.unwrap_or(base.users),
            follows: self.follows.unwrap_or(base.follows),
            posts: self.posts.unwrap_or(base.posts),
            days: self.days.unwrap_or(base.days),
        };
        if size.follows > 0 && size.follows >= size.users {
            return Err(format!(
                "--follows {} must be less than --users {} (nobody can follow more accounts \
                 than there are others)",
                size.follows, size.users
            ));
        }
        Ok(size)
    }
}
