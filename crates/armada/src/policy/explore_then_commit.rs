//! Explore-then-commit, a.k.a. explore-first (Slivkins 2019, §1.2).
//!
//! Pull every arm `m` times round-robin in index order (arm t mod K at step t, for t < mK,
//! t = pulls so far), then commit for the rest of the run to the arm with the best empirical
//! mean. Ties at commit time are broken at random, once, with the policy stream.
//!
//! With `m = auto` (the default), m = ⌈(T/K)^{2/3} (ln T)^{1/3}⌉: Slivkins' choice
//! N = (T/K)^{2/3}·O(log T)^{1/3} for explore-first (§1.2, regret T^{2/3}·O(K log T)^{1/3}), with
//! the constant in the O taken as 1. Explicit or automatic, m is clamped to
//! [1, max(1, ⌊T/K⌋)], so exploration never outlasts the horizon by more than one round.

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct ExploreThenCommit {
    m: u64,
    /// mK: the number of exploration steps.
    explore_steps: u64,
    counts: Vec<u64>,
    means: Vec<f64>,
    t: u64,
    committed: Option<usize>,
}

impl ExploreThenCommit {
    pub fn new(info: &BanditInfo, m: Option<u64>) -> Self {
        let k = info.arms;
        let m = m.unwrap_or_else(|| Self::auto_m(info.horizon, k)).clamp(1, Self::max_m(info.horizon, k));
        ExploreThenCommit {
            m,
            explore_steps: m.saturating_mul(k as u64),
            counts: vec![0; k],
            means: vec![0.0; k],
            t: 0,
            committed: None,
        }
    }

    /// The automatic exploration length ⌈(T/K)^{2/3} (ln T)^{1/3}⌉ (Slivkins 2019, §1.2),
    /// before clamping; at least 1 (ln T is taken as 0 for T ≤ 1).
    pub fn auto_m(horizon: u64, arms: usize) -> u64 {
        let per_arm = horizon as f64 / arms.max(1) as f64;
        let ln_t = (horizon as f64).ln().max(0.0);
        let m = (per_arm.powf(2.0 / 3.0) * ln_t.cbrt()).ceil();
        // `as` saturates, and NaN (impossible here) would map to 0.
        (m as u64).max(1)
    }

    /// The largest m allowed: max(1, ⌊T/K⌋).
    fn max_m(horizon: u64, arms: usize) -> u64 {
        (horizon / arms.max(1) as u64).max(1)
    }

    /// Pulls per arm in the exploration phase (after clamping).
    pub fn m(&self) -> u64 {
        self.m
    }

    /// The arm committed to, once the exploration phase is over.
    pub fn committed(&self) -> Option<usize> {
        self.committed
    }

    /// Empirical means of every arm.
    pub fn means(&self) -> &[f64] {
        &self.means
    }
}

impl Policy for ExploreThenCommit {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.means.len();
        if self.t < self.explore_steps {
            return (self.t % k as u64) as usize;
        }
        if let Some(a) = self.committed {
            return a;
        }
        let means = &self.means;
        let a = rng::argmax_by(rng, k, |i| means[i]);
        self.committed = Some(a);
        a
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        let n = self.counts[arm] + 1;
        self.counts[arm] = n;
        self.means[arm] += (reward - self.means[arm]) / n as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::policy::testing::pull_counts;
    use crate::rng::Role;

    fn info(arms: usize, horizon: u64, model: &RewardModel) -> BanditInfo<'_> {
        BanditInfo { arms, horizon, reward_model: model }
    }

    #[test]
    fn auto_m_matches_the_formula_and_is_clamped() {
        let b = RewardModel::Bernoulli;
        // T = 5000, K = 2: (2500)^{2/3} = 184.20, (ln 5000)^{1/3} = 8.5172^{1/3} = 2.0424,
        // product 376.2, so m = 377 (below T/K = 2500).
        assert_eq!(ExploreThenCommit::auto_m(5000, 2), 377);
        assert_eq!(ExploreThenCommit::new(&info(2, 5000, &b), None).m(), 377);
        // T = 10, K = 5: 2^{2/3}·(ln 10)^{1/3} = 1.587·1.3205 = 2.096 → 3, clamped to T/K = 2.
        assert_eq!(ExploreThenCommit::auto_m(10, 5), 3);
        assert_eq!(ExploreThenCommit::new(&info(5, 10, &b), None).m(), 2);
        // An explicit m is clamped too, and T < K still explores each arm once.
        assert_eq!(ExploreThenCommit::new(&info(2, 50, &b), Some(100)).m(), 25);
        assert_eq!(ExploreThenCommit::new(&info(2, 50, &b), Some(7)).m(), 7);
        assert_eq!(ExploreThenCommit::new(&info(4, 3, &b), None).m(), 1);
        assert_eq!(ExploreThenCommit::new(&info(4, 0, &b), None).m(), 1);
        assert_eq!(ExploreThenCommit::new(&info(4, 1, &b), None).m(), 1);
    }

    #[test]
    fn explores_round_robin_then_commits_to_the_best_mean() {
        let b = RewardModel::Bernoulli;
        let mut p = ExploreThenCommit::new(&info(3, 100, &b), Some(4));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 1 pays 1 on each of its 4 pulls; arm 2 pays 1 three times; arm 0 never.
        let mut arm2_pulls = 0;
        for t in 0..12 {
            let a = p.select(&mut rng);
            assert_eq!(a, t % 3, "step {t}");
            let r = match a {
                1 => 1.0,
                2 => {
                    arm2_pulls += 1;
                    if arm2_pulls < 4 { 1.0 } else { 0.0 }
                }
                _ => 0.0,
            };
            p.update(a, r, &mut rng);
        }
        assert_eq!(p.committed(), None);
        for _ in 0..50 {
            let a = p.select(&mut rng);
            assert_eq!(a, 1);
            // Rewards after committing do not move the commitment.
            p.update(a, 0.0, &mut rng);
        }
        assert_eq!(p.committed(), Some(1));
    }

    #[test]
    fn commit_ties_are_broken_at_random_and_kept() {
        // Two arms with equal empirical means: over 400 runs each should be committed to about
        // half the time (binomial sd = 10; allow 5 sd), and a run never switches afterwards.
        let b = RewardModel::Bernoulli;
        let mut wins = [0usize; 2];
        for s in 0..400 {
            let mut p = ExploreThenCommit::new(&info(2, 100, &b), Some(2));
            let mut rng = rng::stream(11, Role::Policy, &["etc-ties"], s);
            for _ in 0..4 {
                let a = p.select(&mut rng);
                p.update(a, 1.0, &mut rng);
            }
            let first = p.select(&mut rng);
            for _ in 0..20 {
                assert_eq!(p.select(&mut rng), first);
            }
            wins[first] += 1;
        }
        assert!((wins[0] as f64 - 200.0).abs() < 50.0, "{wins:?}");
    }

    #[test]
    fn auto_m_explores_then_plays_the_better_arm_on_a_two_arm_instance() {
        // Means [0.3, 0.7], T = 5000, m = 377 (see above). A wrong commitment needs the
        // 377-sample means to differ by more than the gap 0.4 in the wrong direction:
        // Hoeffding gives P ≤ exp(-2·377·0.2²)·2 ≈ 2e-13, so every seed must pull arm 0 exactly
        // 377 times (optimal share 4623/5000 = 0.9246).
        let b = RewardModel::Bernoulli;
        for s in 0..50 {
            let pulls = pull_counts(&[0.3, 0.7], 5000, 1, (2024 + s, "etc-2arm"), || {
                ExploreThenCommit::new(&info(2, 5000, &b), None)
            });
            assert_eq!(pulls, [377, 4623], "seed {s}");
        }
    }
}
