//! argon2 PHC strings computed in memory the caller owns.
//!
//! `Argon2::hash_password` allocates its work area (19 MiB with the defaults) on every call
//! and frees it after. glibc serves the first such allocation with mmap, but freeing it raises
//! malloc's mmap threshold to that size, so every later one comes from a heap arena, where the
//! freed areas stay mapped and fragment: RSS grew from 13 MiB to 850 MiB in a 15-second login
//! storm and never came back. A [`Scratch`] is allocated once per hashing thread and reused:
//! hashing allocates nothing, and the memory is bounded at threads × work area.

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use domain::StoreError;

/// One thread's argon2 work area, sized for the configured parameters.
pub struct Scratch {
    blocks: Vec<Block>,
    /// Blocks the configured parameters need: what the area grows to on first use.
    capacity: usize,
}

impl Scratch {
    /// Nothing is allocated until the first hash: an instance that never hashes (or a thread
    /// that never gets a job) holds no work area.
    pub fn new(params: &Params) -> Self {
        Scratch {
            blocks: Vec::new(),
            capacity: params.block_count(),
        }
    }

    /// `n` blocks of the kept area, or `None` when `n` is more than it was sized for.
    fn blocks(&mut self, n: usize) -> Option<&mut [Block]> {
        if n > self.capacity {
            return None;
        }
        if self.blocks.len() < self.capacity {
            self.blocks.resize(self.capacity, Block::new());
        }
        self.blocks.get_mut(..n)
    }

    /// Bytes held now (0 before the first hash).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.blocks.capacity() * Block::SIZE
    }

    /// Where the area is, to tell one reused area from a fresh one.
    #[cfg(test)]
    pub fn area(&self) -> usize {
        self.blocks.as_ptr() as usize
    }
}

/// The PHC string of `output` for `password` hashed with argon2id v19 and `params`.
pub fn phc_string(params: &Params, salt: &Salt, output: &Output) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${salt}${output}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

/// A fresh argon2id hash of `password` with a random 16-byte salt, as a PHC string.
pub fn hash(
    argon: &Argon2<'_>,
    scratch: &mut Scratch,
    password: &[u8],
) -> Result<String, StoreError> {
    let internal =
        |e: &dyn std::fmt::Display| StoreError::Internal(format!("password hashing failed: {e}"));
    // rand's thread RNG is a CSPRNG seeded from the OS; a salt only has to be unique.
    let salt =
        Salt::new(&rand::random::<[u8; Salt::RECOMMENDED_LENGTH]>()).map_err(|e| internal(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(argon, scratch, password, &salt, &mut out)?;
    let output = Output::new(&out).map_err(|e| internal(&e))?;
    Ok(phc_string(argon.params(), &salt, &output))
}

/// Whether `password` hashes to the PHC string `stored`, with the algorithm, version and cost
/// written in it (so hashes made before a change of parameters still verify).
pub fn verify(scratch: &mut Scratch, password: &[u8], stored: &str) -> Result<bool, StoreError> {
    let parsed = PasswordHash::new(stored)
        .map_err(|e| StoreError::Internal(format!("stored password hash is malformed: {e}")))?;
    let unusable = |e: &dyn std::fmt::Display| {
        StoreError::Internal(format!("stored password hash cannot be checked: {e}"))
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| unusable(&e))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| unusable(&e))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| unusable(&e))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(unusable(&"it has no salt or no output"));
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..expected.len())
        .ok_or_else(|| unusable(&"its output is too long"))?;
    compute(&argon, scratch, password, salt, out)?;
    let computed = Output::new(out).map_err(|e| unusable(&e))?;
    // `Output`'s equality is constant-time: how many leading bytes match must not show.
    Ok(computed == *expected)
}

fn compute(
    argon: &Argon2<'_>,
    scratch: &mut Scratch,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), StoreError> {
    let result = match scratch.blocks(argon.params().block_count()) {
        Some(blocks) => argon.hash_password_into_with_memory(password, salt, out, blocks),
        // A stored hash costlier than the current setting (made before it was lowered): its
        // work area is allocated for this one call.
        None => argon.hash_password_into(password, salt, out),
    };
    result.map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))
}
