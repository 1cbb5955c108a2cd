//! Random streams: how every random number in a run is derived from the master seed.
//!
//! A run never shares a generator with another run, and inside a run each *role* (building the
//! environment instance, drawing rewards, the policy's own randomness) has its own stream. A
//! stream's seed is a hash of the master seed, the role, the run's identity strings (environment
//! and, for the policy role, the policy's canonical description) and the seed index. Positions
//! in the spec and thread identity never enter, so reordering policies or changing the thread
//! count changes no number, and the reward stream is shared by every policy on the same
//! environment and seed index (common random numbers).
//!
//! The hash (FNV-1a over the bytes, finished by the SplitMix64 mixer) and the generator
//! (xoshiro256++) are part of the reproducibility contract: changing either changes results.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;

/// The generator behind every stream.
pub type Stream = Xoshiro256PlusPlus;

/// What a stream is used for. Each role of a run draws from its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Building the environment instance (drawn means, arm shuffle).
    Instance,
    /// The environment's reward noise.
    Reward,
    /// The policy's own randomness (tie-breaks, sampling).
    Policy,
    /// An agent's fallback when its answer names no arm (never the reward stream).
    Fallback,
    /// What every agent on an environment shares for a seed index (e.g. the arm names).
    Scenario,
}

impl Role {
    fn tag(self) -> &'static str {
        match self {
            Role::Instance => "instance",
            Role::Reward => "reward",
            Role::Policy => "policy",
            Role::Fallback => "fallback",
            Role::Scenario => "scenario",
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The SplitMix64 finaliser: a bijective mixer with good avalanche.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49eb_1331_11eb);
    z ^ (z >> 31)
}

/// The 64-bit seed of one stream.
///
/// `identity` holds the strings that name the run's parts relevant to the role, in a fixed
/// order (environment id; then policy id for [`Role::Policy`]). Each is length-prefixed, so
/// `["ab", "c"]` and `["a", "bc"]` differ.
pub fn stream_seed(master: u64, role: Role, identity: &[&str], seed_index: u64) -> u64 {
    let mut h = fnv1a(FNV_OFFSET, &master.to_le_bytes());
    h = fnv1a(h, role.tag().as_bytes());
    for part in identity {
        h = fnv1a(h, &(part.len() as u64).to_le_bytes());
        h = fnv1a(h, part.as_bytes());
    }
    h = fnv1a(h, &seed_index.to_le_bytes());
    mix64(h)
}

/// A fresh stream for one role of one run.
pub fn stream(master: u64, role: Role, identity: &[&str], seed_index: u64) -> Stream {
    Stream::seed_from_u64(stream_seed(master, role, identity, seed_index))
}

/// A uniform draw in [0, 1) with 53 random bits.
#[inline(always)]
pub fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal draw (ziggurat).
#[inline(always)]
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

/// A uniform index in `0..n` (n ≥ 1), by Lemire's multiply-shift (bias below 2⁻⁵⁰ for the
/// small `n` used here, which no experiment can detect).
#[inline(always)]
pub fn index<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Samples an index from the probability vector `p` (non-negative, summing to ≈ 1) by
/// inversion with one uniform draw. Falls back to the last positive entry if rounding leaves
/// the cumulative sum just below the draw.
pub fn categorical<R: Rng + ?Sized>(rng: &mut R, p: &[f64]) -> usize {
    let total: f64 = p.iter().sum();
    let u = uniform(rng) * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            last = i;
            acc += pi;
            if u < acc {
                return i;
            }
        }
    }
    last
}

/// Argmax of `values` with ties broken uniformly at random.
///
/// Written as branch-light passes the compiler vectorises: the maximum, then the number of
/// entries equal to it; only when several tie is a random draw made (one uniform index among
/// the tied entries, in index order). No allocation.
#[inline]
pub fn argmax_random_ties<R: Rng + ?Sized>(rng: &mut R, values: &[f64]) -> usize {
    // Four independent running maxima: no loop-carried compare chain, so it vectorises.
    let mut lanes = [f64::NEG_INFINITY; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let mut max = lanes.iter().fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for &v in rest {
        max = if v > max { v } else { max };
    }
    pick_among_max(rng, values, max)
}

/// The index of a uniformly random entry equal to `max` (which must occur in `values`).
#[inline]
fn pick_among_max<R: Rng + ?Sized>(rng: &mut R, values: &[f64], max: f64) -> usize {
    let ties: usize = values.iter().map(|&v| usize::from(v == max)).sum();
    if ties <= 1 {
        return values.iter().position(|&v| v == max).unwrap_or(0);
    }
    let pick = index(rng, ties);
    values.iter().enumerate().filter(|&(_, &v)| v == max).nth(pick).map_or(0, |(i, _)| i)
}

/// Fills `out[i] = value(i)` (the caller's scratch, so no allocation) and returns
/// [`argmax_random_ties`] of it. For more than a handful of arms these vectorised passes beat
/// the single branchy pass of [`argmax_by`].
#[inline]
pub fn fill_argmax<R: Rng + ?Sized>(rng: &mut R, out: &mut [f64], mut value: impl FnMut(usize) -> f64) -> usize {
    for (i, o) in out.iter_mut().enumerate() {
        *o = value(i);
    }
    argmax_random_ties(rng, out)
}

/// Argmax over an index function, ties broken uniformly at random. Same contract as
/// [`argmax_random_ties`], without materialising the values.
#[inline(always)]
pub fn argmax_by<R: Rng + ?Sized>(rng: &mut R, k: usize, mut value: impl FnMut(usize) -> f64) -> usize {
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    let mut ties = 0usize;
    for i in 0..k {
        let v = value(i);
        if v > best_v {
            best_v = v;
            best = i;
            ties = 1;
        } else if v == best_v {
            ties += 1;
            if index(rng, ties) == 0 {
                best = i;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_depend_on_every_part_of_the_identity() {
        let base = stream_seed(7, Role::Reward, &["env"], 0);
        assert_eq!(base, stream_seed(7, Role::Reward, &["env"], 0));
        assert_ne!(base, stream_seed(8, Role::Reward, &["env"], 0));
        assert_ne!(base, stream_seed(7, Role::Policy, &["env"], 0));
        assert_ne!(base, stream_seed(7, Role::Reward, &["env2"], 0));
        assert_ne!(base, stream_seed(7, Role::Reward, &["env"], 1));
        assert_ne!(stream_seed(7, Role::Policy, &["ab", "c"], 0), stream_seed(7, Role::Policy, &["a", "bc"], 0));
    }

    #[test]
    fn ties_are_broken_uniformly() {
        // Four tied maxima among six values: each should win ≈ 1/4 of 40 000 draws.
        // Binomial sd = sqrt(40000·0.25·0.75) ≈ 87; allow 5 sd.
        let mut rng = stream(1, Role::Policy, &["t"], 0);
        let v = [1.0, 3.0, 3.0, 0.0, 3.0, 3.0];
        let mut wins = [0usize; 6];
        for _ in 0..40_000 {
            wins[argmax_random_ties(&mut rng, &v)] += 1;
        }
        assert_eq!(wins[0] + wins[3], 0);
        for &i in &[1, 2, 4, 5] {
            assert!((wins[i] as f64 - 10_000.0).abs() < 5.0 * 87.0, "{wins:?}");
        }
        let mut rng2 = stream(1, Role::Policy, &["t"], 0);
        let mut wins2 = [0usize; 6];
        for _ in 0..40_000 {
            wins2[argmax_by(&mut rng2, 6, |i| v[i])] += 1;
        }
        assert_eq!(wins2[0] + wins2[3], 0);
        for &i in &[1, 2, 4, 5] {
            assert!((wins2[i] as f64 - 10_000.0).abs() < 5.0 * 87.0, "{wins2:?}");
        }
    }

    #[test]
    fn categorical_matches_probabilities() {
        let mut rng = stream(3, Role::Policy, &["c"], 0);
        let p = [0.1, 0.0, 0.6, 0.3];
        let mut n = [0usize; 4];
        for _ in 0..100_000 {
            n[categorical(&mut rng, &p)] += 1;
        }
        assert_eq!(n[1], 0);
        for i in [0, 2, 3] {
            // sd ≤ sqrt(1e5·0.25) ≈ 158; allow 5 sd.
            assert!((n[i] as f64 - 1e5 * p[i]).abs() < 800.0, "{n:?}");
        }
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        let mut rng = stream(0, Role::Reward, &[], 0);
        for _ in 0..10_000 {
            let u = uniform(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
