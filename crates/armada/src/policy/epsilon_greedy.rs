//! Greedy and ε-greedy (Slivkins 2019, §1.2).
//!
//! Greedy is ε-greedy with ε = 0: it tries every arm once (unpulled arms have priority), then
//! always plays the best empirical mean, ties broken at random. With ε > 0 a uniform arm is
//! played with probability ε. The decaying schedule ε_t = min(1, (K ln t / t)^{1/3}) is the one
//! behind Slivkins' Theorem 1.6 (regret O(t^{2/3}(K log t)^{1/3}) at every t).

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

/// How ε evolves over time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EpsilonSchedule {
    Fixed(f64),
    Decaying,
}

impl EpsilonSchedule {
    /// ε for the step after `steps` steps, with `arms` arms.
    pub fn at(self, steps: u64, arms: usize) -> f64 {
        match self {
            EpsilonSchedule::Fixed(e) => e,
            EpsilonSchedule::Decaying => {
                let t = (steps + 1) as f64;
                (arms as f64 * t.ln() / t).cbrt().min(1.0)
            }
        }
    }
}

pub struct EpsilonGreedy {
    schedule: EpsilonSchedule,
    counts: Vec<u64>,
    means: Vec<f64>,
    t: u64,
}

impl EpsilonGreedy {
    pub fn new(info: &BanditInfo, schedule: EpsilonSchedule) -> Self {
        EpsilonGreedy { schedule, counts: vec![0; info.arms], means: vec![0.0; info.arms], t: 0 }
    }

    /// ε for the step about to be taken (t = steps already taken + 1).
    pub fn epsilon(&self) -> f64 {
        self.schedule.at(self.t, self.counts.len())
    }
}

impl Policy for EpsilonGreedy {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.counts.len();
        let eps = self.epsilon();
        if eps > 0.0 && rng::uniform(rng) < eps {
            return rng::index(rng, k);
        }
        let (counts, means) = (&self.counts, &self.means);
        rng::argmax_by(rng, k, |i| if counts[i] == 0 { f64::INFINITY } else { means[i] })
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        self.counts[arm] += 1;
        self.means[arm] += (reward - self.means[arm]) / self.counts[arm] as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::rng::Role;

    #[test]
    fn greedy_tries_each_arm_once_then_exploits() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 3, horizon: 10, reward_model: &m };
        let mut p = EpsilonGreedy::new(&info, EpsilonSchedule::Fixed(0.0));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        let mut seen = [false; 3];
        for _ in 0..3 {
            let a = p.select(&mut rng);
            seen[a] = true;
            p.update(a, if a == 1 { 1.0 } else { 0.0 }, &mut rng);
        }
        assert_eq!(seen, [true; 3]);
        for _ in 0..20 {
            assert_eq!(p.select(&mut rng), 1);
        }
    }

    #[test]
    fn decaying_epsilon_follows_the_formula() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 10, horizon: 10, reward_model: &m };
        let mut p = EpsilonGreedy::new(&info, EpsilonSchedule::Decaying);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for _ in 0..999 {
            p.update(0, 0.0, &mut rng);
        }
        let expect = (10.0 * 1000f64.ln() / 1000.0).cbrt();
        assert!((p.epsilon() - expect).abs() < 1e-12);
        assert!(expect < 1.0);
    }

    #[test]
    fn fixed_epsilon_explores_at_the_stated_rate() {
        // With arm 0 known best, non-greedy picks happen w.p. eps·(K-1)/K = 0.2·0.75 = 0.15.
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 4, horizon: 10, reward_model: &m };
        let mut p = EpsilonGreedy::new(&info, EpsilonSchedule::Fixed(0.2));
        let mut rng = rng::stream(5, Role::Policy, &[], 0);
        for a in 0..4 {
            p.update(a, if a == 0 { 1.0 } else { 0.0 }, &mut rng);
        }
        let n = 100_000;
        let other = (0..n).filter(|_| p.select(&mut rng) != 0).count() as f64 / n as f64;
        // sd = sqrt(0.15·0.85/1e5) ≈ 0.0011; allow 5 sd.
        assert!((other - 0.15).abs() < 0.006, "{other}");
    }
}
