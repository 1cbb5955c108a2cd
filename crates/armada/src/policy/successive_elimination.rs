//! Successive elimination (Even-Dar, Mannor, Mansour 2006; Slivkins 2019, §1.3.1).
//!
//! Keep a set of active arms, initially all of them, and play them round-robin in index order.
//! After each complete round over the active set, every active arm has the same count n and a
//! confidence radius r(a) = √(c ln T / n_a); deactivate every arm whose upper bound μ̄_a + r(a)
//! is below the largest lower bound max_b (μ̄_b − r(b)) over active arms. The arm attaining that
//! largest lower bound always survives (its own upper bound is at least its lower bound), so
//! the active set never empties. Default c = 2, Slivkins' radius √(2 ln T / n).
//!
//! Deterministic: the policy stream is never used.

use super::{BanditInfo, Policy};
use crate::rng::Stream;

pub struct SuccessiveElimination {
    /// c ln T, the numerator of the squared radius.
    c_ln_t: f64,
    active: Vec<bool>,
    n_active: usize,
    counts: Vec<u64>,
    means: Vec<f64>,
    /// Lowest arm index that may still be played in the current round.
    next: usize,
}

impl SuccessiveElimination {
    pub fn new(info: &BanditInfo, c: f64) -> Self {
        let k = info.arms;
        // ln T is taken as 0 for T ≤ 1 (radius 0) so it is never negative or NaN.
        let ln_t = (info.horizon as f64).ln().max(0.0);
        SuccessiveElimination {
            c_ln_t: c * ln_t,
            active: vec![true; k],
            n_active: k,
            counts: vec![0; k],
            means: vec![0.0; k],
            next: 0,
        }
    }

    /// Whether `arm` is still active.
    pub fn is_active(&self, arm: usize) -> bool {
        self.active[arm]
    }

    /// Number of active arms (at least 1).
    pub fn active_count(&self) -> usize {
        self.n_active
    }

    /// Confidence radius √(c ln T / n) of `arm` (infinite when unpulled).
    pub fn radius(&self, arm: usize) -> f64 {
        match self.counts[arm] {
            0 => f64::INFINITY,
            n => (self.c_ln_t / n as f64).sqrt(),
        }
    }

    /// Deactivates every arm whose UCB is below the best LCB among active arms.
    fn eliminate(&mut self) {
        if self.n_active <= 1 {
            return;
        }
        let k = self.active.len();
        let mut best_lcb = f64::NEG_INFINITY;
        for a in 0..k {
            if self.active[a] {
                best_lcb = best_lcb.max(self.means[a] - self.radius(a));
            }
        }
        // The arm attaining best_lcb has μ̄ + r ≥ μ̄ − r = best_lcb, so at least one survives;
        // the count check is a guard against that reasoning ever failing (e.g. NaN).
        let survivors = (0..k).filter(|&a| self.active[a] && self.means[a] + self.radius(a) >= best_lcb).count();
        if survivors == 0 {
            return;
        }
        for a in 0..k {
            if self.active[a] && self.means[a] + self.radius(a) < best_lcb {
                self.active[a] = false;
                self.n_active -= 1;
            }
        }
    }
}

impl Policy for SuccessiveElimination {
    #[inline]
    fn select(&mut self, _rng: &mut Stream) -> usize {
        let k = self.active.len();
        (self.next..k)
            .find(|&a| self.active[a])
            .or_else(|| (0..k).find(|&a| self.active[a]))
            .expect("the active set is never empty")
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        let n = self.counts[arm] + 1;
        self.counts[arm] = n;
        self.means[arm] += (reward - self.means[arm]) / n as f64;
        self.next = arm + 1;
        // The round is complete once no active arm is left after the one just played.
        if !self.active[self.next.min(self.active.len())..].iter().any(|&x| x) {
            self.eliminate();
            self.next = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{BernoulliEnv, Environment, RewardModel};
    use crate::rng::{self, Role};

    fn run(p: &mut SuccessiveElimination, means: &[f64], steps: u64, seed: u64) -> Vec<u64> {
        let mut env = BernoulliEnv { means };
        let mut r_rng = rng::stream(seed, Role::Reward, &["se-test"], 0);
        let mut p_rng = rng::stream(seed, Role::Policy, &["se-test"], 0);
        let mut pulls = vec![0u64; means.len()];
        for _ in 0..steps {
            let a = p.select(&mut p_rng);
            pulls[a] += 1;
            let r = env.pull(a, &mut r_rng);
            p.update(a, r, &mut p_rng);
        }
        pulls
    }

    #[test]
    fn plays_active_arms_round_robin_and_drops_a_dominated_arm() {
        let m = RewardModel::Bernoulli;
        // T = e² so c ln T = 2·2 = 4 and r = 2/√n.
        let info = BanditInfo { arms: 3, horizon: 8, reward_model: &m };
        let mut p = SuccessiveElimination { c_ln_t: 4.0, ..SuccessiveElimination::new(&info, 2.0) };
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 1 always pays 1, arms 0 and 2 pay 0. After n rounds: μ̄ = (0, 1, 0), r = 2/√n.
        // Arms 0, 2 drop once 0 + r < 1 − r, i.e. n > 16; round-robin order holds until then.
        for round in 1..=17 {
            for a in 0..3 {
                assert_eq!(p.select(&mut rng), a, "round {round}");
                p.update(a, if a == 1 { 1.0 } else { 0.0 }, &mut rng);
            }
            assert_eq!(p.active_count(), if round < 17 { 3 } else { 1 }, "round {round}");
        }
        assert!((p.radius(1) - 2.0 / 17f64.sqrt()).abs() < 1e-12);
        assert!(p.is_active(1) && !p.is_active(0) && !p.is_active(2));
        for _ in 0..10 {
            assert_eq!(p.select(&mut rng), 1);
            p.update(1, 0.0, &mut rng);
        }
    }

    #[test]
    fn skips_inactive_arms_within_a_round() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 4, horizon: 100, reward_model: &m };
        let mut p = SuccessiveElimination::new(&info, 2.0);
        p.active[1] = false;
        p.n_active = 3;
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        let order: Vec<usize> = (0..6)
            .map(|_| {
                let a = p.select(&mut rng);
                p.update(a, 0.5, &mut rng);
                a
            })
            .collect();
        assert_eq!(order, [0, 2, 3, 0, 2, 3]);
    }

    #[test]
    fn never_empties_the_active_set() {
        // All arms identical and a tiny radius (c = 1e-6): many arms get eliminated, but at
        // least one must remain, whatever the rewards.
        let m = RewardModel::Bernoulli;
        let means = [0.5; 6];
        for seed in 0..20 {
            let info = BanditInfo { arms: 6, horizon: 1000, reward_model: &m };
            let mut p = SuccessiveElimination::new(&info, 1e-6);
            let pulls = run(&mut p, &means, 1000, seed);
            assert!(p.active_count() >= 1);
            assert!((0..6).any(|a| p.is_active(a)));
            assert_eq!(pulls.iter().sum::<u64>(), 1000);
        }
        // Identical rewards tie every bound: nothing may be dropped.
        let info = BanditInfo { arms: 3, horizon: 1000, reward_model: &m };
        let mut p = SuccessiveElimination::new(&info, 1e-6);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for _ in 0..300 {
            let a = p.select(&mut rng);
            p.update(a, 1.0, &mut rng);
        }
        assert_eq!(p.active_count(), 3);
    }

    #[test]
    fn eliminates_the_bad_arm_on_a_two_arm_instance() {
        // Means [0.3, 0.7], T = 5000, c = 2: r = √(2 ln 5000 / n) = √(17.03/n). Arm 0 goes once
        // 2r < μ̄_1 − μ̄_0 ≈ 0.4, i.e. after ≈ 17.03/0.04 ≈ 426 rounds. By n = 750, 2r = 0.301
        // and the gap estimate has sd √(2·0.21/750) = 0.024, so surviving past 750 rounds is a
        // 4-sd event (≈ 3e-5 per seed): every seed must have eliminated arm 0 with fewer than
        // 750 pulls, giving an optimal share above 1 − 750/5000 = 0.85.
        let m = RewardModel::Bernoulli;
        let means = [0.3, 0.7];
        let mut share = 0.0;
        for seed in 0..50 {
            let info = BanditInfo { arms: 2, horizon: 5000, reward_model: &m };
            let mut p = SuccessiveElimination::new(&info, 2.0);
            let pulls = run(&mut p, &means, 5000, 1000 + seed);
            assert!(!p.is_active(0) && p.is_active(1), "seed {seed}: {pulls:?}");
            assert!(pulls[0] < 750, "seed {seed}: {pulls:?}");
            share += pulls[1] as f64 / 5000.0 / 50.0;
        }
        assert!(share > 0.85, "{share}");
    }
}
