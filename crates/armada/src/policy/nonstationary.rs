//! Policies for non-stationary bandits, whose arm means change over time: they forget.
//!
//! * **Sliding-window UCB** (Garivier, Moulines 2011): statistics over the last τ plays only;
//!   index X̄_τ(i) + B √(ξ ln min(t, τ) / N_τ(i)).
//! * **Discounted UCB** (same paper): every past play weighs γ^{age}; index
//!   X̄_γ(i) + 2B √(ξ ln n_γ / N_γ(i)) with n_γ = Σ_i N_γ(i).
//! * **Discounted Thompson sampling** (Raj, Kalyani 2017): Beta posteriors whose pseudo-counts
//!   decay by γ every step; Bernoulli rewards (for other rewards the success count is the reward
//!   clipped to [0, 1]).
//! * **CUSUM-UCB** (Liu, Lee, Shroff 2018): UCB on each arm's samples since its last detected
//!   change, a two-sided CUSUM test per arm that resets the arm on an alarm, and uniform
//!   exploration with probability α so every arm keeps being watched.
//!
//! The defaults follow Garivier and Moulines' tuning for one change point and rewards in [0, 1]
//! (B = 1, ξ = 0.6): τ = ⌈2√(T ln T)⌉ and γ = 1 − 1/(4√T).

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};
use rand_distr::{Beta, Distribution};

/// Sliding-window UCB.
pub struct SlidingWindowUcb {
    window: usize,
    xi: f64,
    scale: f64,
    /// The last `window` plays, oldest first (a ring buffer of arm and reward).
    ring: Vec<(u32, f64)>,
    head: usize,
    counts: Vec<u64>,
    sums: Vec<f64>,
    t: u64,
}

impl SlidingWindowUcb {
    /// `window = None` uses ⌈2√(T ln T)⌉.
    pub fn new(info: &BanditInfo, window: Option<u64>, xi: f64, scale: f64) -> Self {
        let t = info.horizon.max(2) as f64;
        let window = window.unwrap_or_else(|| (2.0 * (t * t.ln()).sqrt()).ceil() as u64).max(1) as usize;
        SlidingWindowUcb {
            window,
            xi,
            scale,
            ring: Vec::with_capacity(window.min(info.horizon as usize + 1)),
            head: 0,
            counts: vec![0; info.arms],
            sums: vec![0.0; info.arms],
            t: 0,
        }
    }

    /// Plays of each arm inside the window.
    pub fn window_counts(&self) -> &[u64] {
        &self.counts
    }
}

impl Policy for SlidingWindowUcb {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let log = ((self.t + 1).min(self.window as u64) as f64).ln().max(0.0);
        let (counts, sums, c) = (&self.counts, &self.sums, self.scale * self.xi.sqrt());
        rng::argmax_by(rng, counts.len(), |i| {
            if counts[i] == 0 {
                f64::INFINITY
            } else {
                let n = counts[i] as f64;
                sums[i] / n + c * (log / n).sqrt()
            }
        })
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        if self.ring.len() < self.window {
            self.ring.push((arm as u32, reward));
        } else {
            let (old, r) = std::mem::replace(&mut self.ring[self.head], (arm as u32, reward));
            self.counts[old as usize] -= 1;
            self.sums[old as usize] -= r;
            if self.counts[old as usize] == 0 {
                // No rounding residue for an arm that left the window.
                self.sums[old as usize] = 0.0;
            }
            self.head = (self.head + 1) % self.window;
        }
        self.counts[arm] += 1;
        self.sums[arm] += reward;
    }
}

/// Discounted UCB.
pub struct DiscountedUcb {
    gamma: f64,
    xi: f64,
    scale: f64,
    counts: Vec<f64>,
    sums: Vec<f64>,
}

impl DiscountedUcb {
    /// `gamma = None` uses 1 − 1/(4√T).
    pub fn new(info: &BanditInfo, gamma: Option<f64>, xi: f64, scale: f64) -> Self {
        let gamma = gamma.unwrap_or_else(|| 1.0 - 1.0 / (4.0 * (info.horizon.max(1) as f64).sqrt()));
        DiscountedUcb { gamma, xi, scale, counts: vec![0.0; info.arms], sums: vec![0.0; info.arms] }
    }
}

impl Policy for DiscountedUcb {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let total: f64 = self.counts.iter().sum();
        let log = total.ln().max(0.0);
        let (counts, sums, c) = (&self.counts, &self.sums, 2.0 * self.scale * self.xi.sqrt());
        rng::argmax_by(rng, counts.len(), |i| {
            // An arm whose discounted count underflowed to 0 is as good as never played.
            if counts[i] <= 0.0 { f64::INFINITY } else { sums[i] / counts[i] + c * (log / counts[i]).sqrt() }
        })
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        for (n, s) in self.counts.iter_mut().zip(self.sums.iter_mut()) {
            *n *= self.gamma;
            *s *= self.gamma;
        }
        self.counts[arm] += 1.0;
        self.sums[arm] += reward;
    }
}

/// Discounted Thompson sampling with Beta(1, 1) priors.
pub struct DiscountedThompson {
    gamma: f64,
    successes: Vec<f64>,
    failures: Vec<f64>,
}

impl DiscountedThompson {
    /// `gamma = None` uses 1 − 1/(4√T), as discounted UCB.
    pub fn new(info: &BanditInfo, gamma: Option<f64>) -> Self {
        let gamma = gamma.unwrap_or_else(|| 1.0 - 1.0 / (4.0 * (info.horizon.max(1) as f64).sqrt()));
        DiscountedThompson { gamma, successes: vec![0.0; info.arms], failures: vec![0.0; info.arms] }
    }
}

impl Policy for DiscountedThompson {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, (s, f)) in self.successes.iter().zip(&self.failures).enumerate() {
            // Both shapes are ≥ 1, so the distribution always exists. Continuous samples: ties
            // have probability zero, the lowest index keeps them.
            let draw = Beta::new(1.0 + s, 1.0 + f).map_or(0.5, |b| b.sample(rng));
            if draw > best.1 {
                best = (i, draw);
            }
        }
        best.0
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        for (s, f) in self.successes.iter_mut().zip(self.failures.iter_mut()) {
            *s *= self.gamma;
            *f *= self.gamma;
        }
        let r = reward.clamp(0.0, 1.0);
        self.successes[arm] += r;
        self.failures[arm] += 1.0 - r;
    }
}

/// CUSUM-UCB: UCB over each arm's samples since its last change alarm.
pub struct CusumUcb {
    /// Samples that set an arm's reference mean after a reset.
    warmup: u64,
    drift: f64,
    threshold: f64,
    explore: f64,
    counts: Vec<u64>,
    sums: Vec<f64>,
    /// Reference mean of the current regime (the mean of its first `warmup` samples).
    reference: Vec<f64>,
    /// CUSUM statistics for an upward and a downward shift.
    up: Vec<f64>,
    down: Vec<f64>,
    alarms: u64,
}

impl CusumUcb {
    /// `None` parameters take the defaults documented in the registry.
    pub fn new(info: &BanditInfo, warmup: u64, drift: f64, threshold: Option<f64>, explore: Option<f64>) -> Self {
        let t = info.horizon.max(2) as f64;
        let k = info.arms;
        CusumUcb {
            warmup: warmup.max(1),
            drift,
            threshold: threshold.unwrap_or_else(|| t.ln()),
            explore: explore.unwrap_or_else(|| (t.ln() / t).sqrt().min(1.0)),
            counts: vec![0; k],
            sums: vec![0.0; k],
            reference: vec![0.0; k],
            up: vec![0.0; k],
            down: vec![0.0; k],
            alarms: 0,
        }
    }

    /// Change alarms raised so far (each reset one arm).
    pub fn alarms(&self) -> u64 {
        self.alarms
    }
}

impl Policy for CusumUcb {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.counts.len();
        if self.explore > 0.0 && rng::uniform(rng) < self.explore {
            return rng::index(rng, k);
        }
        let total: u64 = self.counts.iter().sum();
        let log = (total.max(1) as f64).ln();
        let (counts, sums) = (&self.counts, &self.sums);
        rng::argmax_by(rng, k, |i| {
            if counts[i] == 0 {
                f64::INFINITY
            } else {
                let n = counts[i] as f64;
                sums[i] / n + (2.0 * log / n).sqrt()
            }
        })
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.counts[arm] += 1;
        self.sums[arm] += reward;
        let n = self.counts[arm];
        if n <= self.warmup {
            self.reference[arm] = self.sums[arm] / n as f64;
            return;
        }
        let deviation = reward - self.reference[arm];
        self.up[arm] = (self.up[arm] + deviation - self.drift).max(0.0);
        self.down[arm] = (self.down[arm] - deviation - self.drift).max(0.0);
        if self.up[arm] > self.threshold || self.down[arm] > self.threshold {
            // A change: forget this arm's regime.
            self.alarms += 1;
            self.counts[arm] = 0;
            self.sums[arm] = 0.0;
            self.up[arm] = 0.0;
            self.down[arm] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::rng::Role;

    #[test]
    fn the_window_holds_exactly_the_last_plays() {
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 3, horizon: 1000, reward_model: &model };
        let mut p = SlidingWindowUcb::new(&info, Some(7), 0.6, 1.0);
        let mut rng = rng::stream(1, Role::Policy, &["sw"], 0);
        let mut history = Vec::new();
        for t in 0..200 {
            let arm = p.select(&mut rng);
            let reward = ((t * 7919) % 3) as f64 / 2.0;
            p.update(arm, reward, &mut rng);
            history.push((arm, reward));
            let last = &history[history.len().saturating_sub(7)..];
            for a in 0..3 {
                let n = last.iter().filter(|(b, _)| *b == a).count() as u64;
                let s: f64 = last.iter().filter(|(b, _)| *b == a).map(|(_, r)| r).sum();
                assert_eq!(p.window_counts()[a], n, "t={t}");
                assert!((p.sums[a] - s).abs() < 1e-9, "t={t}");
            }
        }
    }

    #[test]
    fn cusum_raises_an_alarm_after_a_shift_and_not_before() {
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 10_000, reward_model: &model };
        let h = 10_000f64.ln();
        let mut p = CusumUcb::new(&info, 50, 0.15, Some(h), Some(0.0));
        let mut rng = rng::stream(2, Role::Policy, &["cusum"], 0);
        // 2000 Bernoulli(0.8) rewards on arm 0. The downward statistic is a random walk with
        // steps +0.65 (p = 0.2) and -0.35 (p = 0.8); its exponential tail has rate θ ≈ 1.5
        // (0.2 e^{0.65θ} + 0.8 e^{-0.35θ} = 1), so one excursion reaches h = ln 10⁴ with
        // probability about e^{-1.5h} ≈ 1e-6: no false alarm is expected over 2000 samples.
        for _ in 0..2000 {
            let r = if rng::uniform(&mut rng) < 0.8 { 1.0 } else { 0.0 };
            p.update(0, r, &mut rng);
        }
        assert_eq!(p.alarms(), 0);
        // The arm drops to 0.2: the downward statistic grows by 0.45 per sample on average, so
        // it crosses h ≈ 9.2 after about 20 samples.
        let mut steps = 0;
        while p.alarms() == 0 && steps < 100 {
            let r = if rng::uniform(&mut rng) < 0.2 { 1.0 } else { 0.0 };
            p.update(0, r, &mut rng);
            steps += 1;
        }
        assert!(p.alarms() == 1 && steps <= 40, "alarm after {steps} samples");
        assert_eq!(p.counts[0], 0);
    }

    #[test]
    fn discounting_weighs_recent_plays_more() {
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 1000, reward_model: &model };
        let mut p = DiscountedUcb::new(&info, Some(0.5), 0.6, 1.0);
        let mut rng = rng::stream(1, Role::Policy, &["d"], 0);
        p.update(0, 1.0, &mut rng);
        p.update(0, 0.0, &mut rng);
        // Weights 0.5 (old, reward 1) and 1 (new, reward 0): mean 1/3, count 1.5.
        assert!((p.counts[0] - 1.5).abs() < 1e-15 && (p.sums[0] / p.counts[0] - 1.0 / 3.0).abs() < 1e-15);
    }
}
