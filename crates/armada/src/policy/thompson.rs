//! Thompson sampling (Thompson 1933; Agrawal & Goyal 2012, 2013).
//!
//! * Beta–Bernoulli: arm a's posterior is Beta(1 + S_a, 1 + F_a) from a uniform prior; play the
//!   argmax of one posterior draw per arm. A reward strictly between 0 and 1 is turned into a
//!   Bernoulli(r) success with the policy's own stream (Agrawal & Goyal 2012, §2), so the policy
//!   stays valid for any rewards in [0, 1]; rewards outside are clipped.
//! * Gaussian with known σ_a: draw θ_a ~ N(S_a/(n_a + 1), σ_a²/(n_a + 1)) (Agrawal & Goyal 2013,
//!   Gaussian-prior variant), play the argmax.
//!
//! A Beta draw is X/(X+Y) with X, Y Gamma variates by Marsaglia–Tsang (2000) on a ziggurat
//! normal. Both shapes are ≥ 1 under the uniform prior, so the simple form of the method
//! applies; its constants d = a − 1/3 and c = 1/√(9d) are cached per arm and recomputed only
//! for the arm that was just updated.

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

/// Cached Marsaglia–Tsang constants of a Gamma(a, 1) with a ≥ 1.
#[derive(Clone, Copy, Debug)]
struct GammaShape {
    d: f64,
    c: f64,
}

impl GammaShape {
    fn new(a: f64) -> Self {
        debug_assert!(a >= 1.0);
        let d = a - 1.0 / 3.0;
        GammaShape { d, c: 1.0 / (9.0 * d).sqrt() }
    }

    #[inline(always)]
    fn sample(self, rng: &mut Stream) -> f64 {
        loop {
            let x = rng::normal(rng);
            let v = 1.0 + self.c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = rng::uniform(rng);
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + self.d * (1.0 - v + v.ln()) {
                return self.d * v;
            }
        }
    }
}

/// Beta–Bernoulli Thompson sampling with a Beta(1, 1) prior.
pub struct ThompsonBeta {
    successes: Vec<f64>,
    failures: Vec<f64>,
    shape_s: Vec<GammaShape>,
    shape_f: Vec<GammaShape>,
}

impl ThompsonBeta {
    pub fn new(info: &BanditInfo) -> Self {
        let k = info.arms;
        ThompsonBeta {
            successes: vec![0.0; k],
            failures: vec![0.0; k],
            shape_s: vec![GammaShape::new(1.0); k],
            shape_f: vec![GammaShape::new(1.0); k],
        }
    }

    /// Posterior parameters (α, β) of `arm`.
    pub fn posterior(&self, arm: usize) -> (f64, f64) {
        (1.0 + self.successes[arm], 1.0 + self.failures[arm])
    }
}

impl Policy for ThompsonBeta {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.shape_s.len();
        let mut best = 0;
        let mut best_v = f64::NEG_INFINITY;
        for i in 0..k {
            let x = self.shape_s[i].sample(rng);
            let y = self.shape_f[i].sample(rng);
            let v = x / (x + y);
            // Continuous draws tie with probability zero; the first maximum wins.
            if v > best_v {
                best_v = v;
                best = i;
            }
        }
        best
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, rng: &mut Stream) {
        let success = if reward >= 1.0 {
            true
        } else if reward <= 0.0 {
            false
        } else {
            rng::uniform(rng) < reward
        };
        if success {
            self.successes[arm] += 1.0;
            self.shape_s[arm] = GammaShape::new(1.0 + self.successes[arm]);
        } else {
            self.failures[arm] += 1.0;
            self.shape_f[arm] = GammaShape::new(1.0 + self.failures[arm]);
        }
    }
}

/// Gaussian Thompson sampling with known per-arm σ.
pub struct ThompsonGaussian {
    sums: Vec<f64>,
    counts: Vec<f64>,
    sigmas: Vec<f64>,
}

impl ThompsonGaussian {
    pub fn new(info: &BanditInfo) -> Self {
        let k = info.arms;
        ThompsonGaussian { sums: vec![0.0; k], counts: vec![0.0; k], sigmas: (0..k).map(|a| info.sigma(a)).collect() }
    }
}

impl Policy for ThompsonGaussian {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let mut best = 0;
        let mut best_v = f64::NEG_INFINITY;
        for i in 0..self.sums.len() {
            let n1 = self.counts[i] + 1.0;
            let v = self.sums[i] / n1 + self.sigmas[i] / n1.sqrt() * rng::normal(rng);
            if v > best_v {
                best_v = v;
                best = i;
            }
        }
        best
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.sums[arm] += reward;
        self.counts[arm] += 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Role;

    #[test]
    fn beta_draws_have_the_right_moments() {
        // Beta(3, 7): mean 0.3, variance 3·7/(10²·11) = 0.0190909.
        let (gs, gf) = (GammaShape::new(3.0), GammaShape::new(7.0));
        let mut rng = rng::stream(2, Role::Policy, &[], 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n)
            .map(|_| {
                let x = gs.sample(&mut rng);
                let y = gf.sample(&mut rng);
                x / (x + y)
            })
            .collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        // sd of the mean = sqrt(0.0191/2e5) ≈ 3.1e-4; allow 5 sd. Variance: sd ≈ 6e-5 (4th
        // moment bound); allow 1e-3 relative-ish slack of 5e-4.
        assert!((m - 0.3).abs() < 1.6e-3, "{m}");
        assert!((v - 0.0190909).abs() < 5e-4, "{v}");
    }

    #[test]
    fn gamma_one_is_exponential() {
        let g = GammaShape::new(1.0);
        let mut rng = rng::stream(3, Role::Policy, &[], 0);
        let n = 200_000;
        let m = (0..n).map(|_| g.sample(&mut rng)).sum::<f64>() / n as f64;
        // Exp(1): sd of the mean = 1/sqrt(2e5) ≈ 2.2e-3; allow 5 sd.
        assert!((m - 1.0).abs() < 0.011, "{m}");
    }

    #[test]
    fn fractional_rewards_are_binarised_with_the_right_probability() {
        let model = crate::env::RewardModel::Bernoulli;
        let info = BanditInfo { arms: 1, horizon: 10, reward_model: &model };
        let mut p = ThompsonBeta::new(&info);
        let mut rng = rng::stream(4, Role::Policy, &[], 0);
        for _ in 0..100_000 {
            p.update(0, 0.3, &mut rng);
        }
        let (a, _) = p.posterior(0);
        // Binomial(1e5, 0.3): sd ≈ 145; allow 5 sd.
        assert!((a - 1.0 - 30_000.0).abs() < 725.0, "{a}");
    }
}
