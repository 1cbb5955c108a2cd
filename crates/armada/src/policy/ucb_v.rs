//! UCB-V: UCB with an empirical-Bernstein bonus (Audibert, Munos, Szepesvári 2009).
//!
//! After one pull of every arm in index order, play the argmax of their eq. (2),
//!
//! B_a = μ̄_a + √(2 V_a E_t / n_a) + 3 c b E_t / n_a,   E_t = ζ ln t,
//!
//! where t is the number of pulls so far, n_a the pulls of arm a and V_a the empirical variance
//! of its rewards (the biased one, dividing by n_a, as in the paper). Rewards are assumed to lie
//! in [0, b]. Defaults ζ = 1.2, c = 1, b = 1 are the paper's experimental setting. Ties are
//! broken at random.
//!
//! Mean and variance are maintained incrementally by Welford's method.

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct UcbV {
    zeta: f64,
    /// 3·c·b, the weight of the range term.
    range_weight: f64,
    counts: Vec<u64>,
    means: Vec<f64>,
    /// Sum of squared deviations from the running mean (Welford's M2).
    m2: Vec<f64>,
    t: u64,
}

impl UcbV {
    pub fn new(info: &BanditInfo, zeta: f64, c: f64, b: f64) -> Self {
        let k = info.arms;
        UcbV {
            zeta,
            // AMS 2009, eq. (2): the range term is c·3bE/s.
            range_weight: 3.0 * c * b,
            counts: vec![0; k],
            means: vec![0.0; k],
            m2: vec![0.0; k],
            t: 0,
        }
    }

    /// Empirical mean of every arm.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// Empirical (biased) variance of `arm`'s rewards; 0 when unpulled.
    pub fn variance(&self, arm: usize) -> f64 {
        match self.counts[arm] {
            0 => 0.0,
            n => (self.m2[arm] / n as f64).max(0.0),
        }
    }

    /// The index B_a for the next step (infinite when unpulled).
    pub fn index(&self, arm: usize) -> f64 {
        let n = self.counts[arm];
        if n == 0 {
            return f64::INFINITY;
        }
        let e = self.exploration();
        let n = n as f64;
        self.means[arm] + (2.0 * self.variance(arm) * e / n).sqrt() + self.range_weight * e / n
    }

    /// E_t = ζ ln t (0 before the first pull).
    fn exploration(&self) -> f64 {
        self.zeta * (self.t.max(1) as f64).ln()
    }
}

impl Policy for UcbV {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.means.len();
        if (self.t as usize) < k {
            return self.t as usize;
        }
        let e = self.exploration();
        let (counts, means, m2) = (&self.counts[..k], &self.means[..k], &self.m2[..k]);
        let rw = self.range_weight;
        rng::argmax_by(rng, k, |i| {
            let inv_n = 1.0 / counts[i] as f64;
            // V/n = M2/n², clamped at 0 against rounding.
            let v_over_n = (m2[i] * inv_n * inv_n).max(0.0);
            means[i] + (2.0 * v_over_n * e).sqrt() + rw * e * inv_n
        })
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        let n = self.counts[arm] + 1;
        self.counts[arm] = n;
        let delta = reward - self.means[arm];
        self.means[arm] += delta / n as f64;
        self.m2[arm] += delta * (reward - self.means[arm]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::policy::testing::optimal_share;
    use crate::rng::Role;

    #[test]
    fn welford_matches_the_two_pass_variance() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 10, reward_model: &m };
        let mut p = UcbV::new(&info, 1.2, 1.0, 1.0);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        let xs = [0.25, 1.0, 0.0, 0.75, 0.5, 0.125];
        for &x in &xs {
            p.update(0, x, &mut rng);
        }
        // Two-pass: mean = 2.625/6 = 0.4375; variance = Σ(x − mean)²/6.
        let var = xs.iter().map(|x| (x - 0.4375f64).powi(2)).sum::<f64>() / 6.0;
        assert!((p.means()[0] - 0.4375).abs() < 1e-15);
        assert!((p.variance(0) - var).abs() < 1e-15, "{} vs {var}", p.variance(0));
        // A large offset does not destroy the variance (the naive E[x²] − E[x]² would lose
        // ~1e12·2⁻⁵² ≈ 2e-4 here): 1e6 ± 0.25 has variance 1/16 exactly.
        for x in [1e6 + 0.5, 1e6, 1e6 + 0.5, 1e6] {
            p.update(1, x, &mut rng);
        }
        assert!((p.variance(1) - 0.0625).abs() < 1e-9, "{}", p.variance(1));
    }

    #[test]
    fn index_matches_eq_2() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 100, reward_model: &m };
        let (zeta, c, b) = (1.2, 0.5, 2.0);
        let mut p = UcbV::new(&info, zeta, c, b);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 0: rewards 1, 0, 1, 1 (mean 3/4, biased variance 3/16). Arm 1: rewards 0, 0 (mean
        // 0, variance 0). t = 6, E = 1.2 ln 6.
        for (a, r) in [(0, 1.0), (1, 0.0), (0, 0.0), (0, 1.0), (1, 0.0), (0, 1.0)] {
            p.update(a, r, &mut rng);
        }
        let e = 1.2 * 6f64.ln();
        let b0 = 0.75 + (2.0 * (3.0 / 16.0) * e / 4.0).sqrt() + 3.0 * c * b * e / 4.0;
        let b1 = 0.0 + 0.0 + 3.0 * c * b * e / 2.0;
        assert!((p.index(0) - b0).abs() < 1e-12, "{} vs {b0}", p.index(0));
        assert!((p.index(1) - b1).abs() < 1e-12, "{} vs {b1}", p.index(1));
        // b1 ≈ 3.23 > b0 ≈ 2.81: the zero-variance arm with fewer pulls wins on the range term.
        assert!(b1 > b0);
        assert_eq!(p.select(&mut rng), 1);
    }

    #[test]
    fn first_round_is_in_index_order_and_ties_are_random() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 3, horizon: 100, reward_model: &m };
        let mut wins = [0usize; 3];
        for s in 0..300 {
            let mut p = UcbV::new(&info, 1.2, 1.0, 1.0);
            let mut rng = rng::stream(3, Role::Policy, &["ucbv-ties"], s);
            for a in 0..3 {
                assert_eq!(p.select(&mut rng), a);
                p.update(a, 1.0, &mut rng);
            }
            wins[p.select(&mut rng)] += 1;
        }
        // Three identical indices: each wins ≈ 100 of 300 (binomial sd ≈ 8.2; allow 5 sd).
        for w in wins {
            assert!((w as f64 - 100.0).abs() < 41.0, "{wins:?}");
        }
    }

    #[test]
    fn mostly_plays_the_better_arm_on_a_two_arm_instance() {
        // Means [0.3, 0.7], T = 5000, defaults. E_T = 1.2 ln 5000 ≈ 10.2. Arm 0 (variance 0.21)
        // keeps an index above 0.7 only while √(2·0.21·E/n) + 3E/n > 0.4, i.e. n ≲ 150; with
        // the fluctuations of both arms' indices, a few hundred pulls at most. Requiring an
        // average optimal share above 0.9 (at most 500 pulls of arm 0) leaves a wide margin.
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 5000, reward_model: &m };
        let share = optimal_share(&[0.3, 0.7], 5000, 50, (77, "ucbv-2arm"), || UcbV::new(&info, 1.2, 1.0, 1.0));
        assert!(share > 0.9, "{share}");
    }
}
