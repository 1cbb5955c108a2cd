//! Test support shared by the policy modules: short simulations of a policy on a Bernoulli
//! instance, with streams derived like the harness's (one master seed and tag per test).

use super::Policy;
use crate::env::{BernoulliEnv, Environment};
use crate::rng::{self, Role};

/// Pull counts per arm, summed over `seeds` runs of `horizon` steps of a fresh `make()` policy
/// on Bernoulli arms `means`. Run `s` uses the reward and policy streams of (master, [tag], s).
pub fn pull_counts<P: Policy>(
    means: &[f64],
    horizon: u64,
    seeds: u64,
    (master, tag): (u64, &str),
    mut make: impl FnMut() -> P,
) -> Vec<u64> {
    let mut pulls = vec![0u64; means.len()];
    for s in 0..seeds {
        let mut policy = make();
        let mut env = BernoulliEnv { means };
        let mut rewards = rng::stream(master, Role::Reward, &[tag], s);
        let mut prng = rng::stream(master, Role::Policy, &[tag], s);
        for _ in 0..horizon {
            let a = policy.select(&mut prng);
            pulls[a] += 1;
            let r = env.pull(a, &mut rewards);
            policy.update(a, r, &mut prng);
        }
    }
    pulls
}

/// The average share of pulls that went to the best arm (the last maximum of `means`).
pub fn optimal_share<P: Policy>(
    means: &[f64],
    horizon: u64,
    seeds: u64,
    seed: (u64, &str),
    make: impl FnMut() -> P,
) -> f64 {
    let best = (0..means.len()).fold(0, |b, i| if means[i] >= means[b] { i } else { b });
    pull_counts(means, horizon, seeds, seed, make)[best] as f64 / (horizon * seeds) as f64
}

/// Mean over `seeds` runs of the expected pseudo-regret Σ_t ⟨p_t, Δ⟩, where p_t is the
/// distribution (read with `probs`) the arm of step t is drawn from.
pub fn expected_regret<P: Policy>(
    means: &[f64],
    horizon: u64,
    seeds: u64,
    (master, tag): (u64, &str),
    mut make: impl FnMut() -> P,
    probs: impl Fn(&P) -> &[f64],
) -> f64 {
    let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for s in 0..seeds {
        let mut policy = make();
        let mut env = BernoulliEnv { means };
        let mut rewards = rng::stream(master, Role::Reward, &[tag], s);
        let mut prng = rng::stream(master, Role::Policy, &[tag], s);
        for _ in 0..horizon {
            total += probs(&policy).iter().zip(means).map(|(p, m)| p * (best - m)).sum::<f64>();
            let a = policy.select(&mut prng);
            let r = env.pull(a, &mut rewards);
            policy.update(a, r, &mut prng);
        }
    }
    total / seeds as f64
}
