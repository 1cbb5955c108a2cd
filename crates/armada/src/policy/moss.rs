//! MOSS, "Minimax Optimal Strategy in the Stochastic case" (Audibert & Bubeck 2009).
//!
//! After one pull of every arm in index order, play
//!
//! argmax_a μ̄_a + √(max(0, ln(T / (K n_a))) / n_a),
//!
//! with T the horizon, K the number of arms and n_a the pulls of arm a. The bonus depends on
//! n_a only (not on t), so it is recomputed for the pulled arm on update and a selection is K
//! additions. Ties are broken at random. No parameters.

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct Moss {
    /// T / K.
    horizon_per_arm: f64,
    counts: Vec<u64>,
    means: Vec<f64>,
    /// μ̄_a + bonus(n_a), kept up to date on update.
    index: Vec<f64>,
    t: u64,
}

impl Moss {
    pub fn new(info: &BanditInfo) -> Self {
        let k = info.arms;
        Moss {
            horizon_per_arm: info.horizon as f64 / k.max(1) as f64,
            counts: vec![0; k],
            means: vec![0.0; k],
            index: vec![f64::INFINITY; k],
            t: 0,
        }
    }

    /// The exploration bonus √(max(0, ln(T/(K n))) / n) after n pulls (infinite for n = 0).
    pub fn bonus(&self, n: u64) -> f64 {
        if n == 0 {
            return f64::INFINITY;
        }
        let n = n as f64;
        // max(0, ·) also absorbs ln 0 = −∞ when T = 0.
        ((self.horizon_per_arm / n).ln().max(0.0) / n).sqrt()
    }

    /// The index of every arm for the next step.
    pub fn indices(&self) -> &[f64] {
        &self.index
    }
}

impl Policy for Moss {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.index.len();
        if (self.t as usize) < k {
            return self.t as usize;
        }
        let index = &self.index[..k];
        rng::argmax_by(rng, k, |i| index[i])
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        let n = self.counts[arm] + 1;
        self.counts[arm] = n;
        self.means[arm] += (reward - self.means[arm]) / n as f64;
        self.index[arm] = self.means[arm] + self.bonus(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::policy::testing::optimal_share;
    use crate::rng::Role;

    #[test]
    fn index_matches_the_formula() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 100, reward_model: &m };
        let mut p = Moss::new(&info);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 0: 4 pulls, mean 1/2. Arm 1: 1 pull, mean 0. T/K = 50.
        for (a, r) in [(0, 1.0), (1, 0.0), (0, 0.0), (0, 1.0), (0, 0.0)] {
            p.update(a, r, &mut rng);
        }
        let i0 = 0.5 + ((50.0f64 / 4.0).ln() / 4.0).sqrt(); // 0.5 + 0.7946 = 1.2946
        let i1 = 0.0 + (50.0f64.ln() / 1.0).sqrt(); // 1.9779
        assert!((p.indices()[0] - i0).abs() < 1e-12);
        assert!((p.indices()[1] - i1).abs() < 1e-12);
        assert_eq!(p.select(&mut rng), 1);
        // Past n = T/K the bonus is exactly 0.
        assert_eq!(p.bonus(50), 0.0);
        assert_eq!(p.bonus(80), 0.0);
        assert!(p.bonus(49) > 0.0);
    }

    #[test]
    fn zero_horizon_gives_no_nan() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 3, horizon: 0, reward_model: &m };
        let p = Moss::new(&info);
        assert_eq!(p.bonus(1), 0.0);
    }

    #[test]
    fn first_round_is_in_index_order_and_ties_are_random() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 100, reward_model: &m };
        let mut wins = [0usize; 2];
        for s in 0..400 {
            let mut p = Moss::new(&info);
            let mut rng = rng::stream(5, Role::Policy, &["moss-ties"], s);
            for a in 0..2 {
                assert_eq!(p.select(&mut rng), a);
                p.update(a, 0.0, &mut rng);
            }
            wins[p.select(&mut rng)] += 1;
        }
        // Binomial(400, 1/2): sd = 10; allow 5 sd.
        assert!((wins[0] as f64 - 200.0).abs() < 50.0, "{wins:?}");
    }

    #[test]
    fn mostly_plays_the_better_arm_on_a_two_arm_instance() {
        // Means [0.3, 0.7], T = 5000, T/K = 2500. Arm 0's index exceeds 0.7 only while
        // √(ln(2500/n)/n) > 0.4 − (noise), i.e. n ≲ 30 (ln(83)/30 = 0.147 = 0.38²), plus the
        // pulls caused by the fluctuations of both means: a few tens. An average optimal share
        // above 0.95 (at most 250 pulls of arm 0) leaves a wide margin.
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 5000, reward_model: &m };
        let share = optimal_share(&[0.3, 0.7], 5000, 50, (31, "moss-2arm"), || Moss::new(&info));
        assert!(share > 0.95, "{share}");
    }
}
