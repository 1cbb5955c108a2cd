//! EXP3 and EXP3-IX: exponential weights on importance-weighted loss estimates, for adversarial
//! (and stochastic) bandits.
//!
//! * EXP3 (Auer, Cesa-Bianchi, Freund, Schapire 2002; Slivkins 2019, ch. 6; in the loss form of
//!   Lattimore & Szepesvári 2020, ch. 11): p_a ∝ exp(−η L̂_a), mixed with the uniform
//!   distribution, p ← (1 − γ) p + γ/K; play A ~ p; then L̂_A += ℓ / p_A for the played arm
//!   only, where ℓ ∈ [0, 1] is the loss of the observed reward ([`loss_of`]) and p_A the
//!   probability A was drawn with. ℓ/p_A is an unbiased estimate of arm A's loss.
//! * EXP3-IX (Neu 2015; Lattimore & Szepesvári 2020, ch. 12): no uniform mixture, and the
//!   estimate ℓ / (p_A + γ) is biased down ("implicit exploration"), which controls its
//!   variance and gives high-probability bounds.
//!
//! The default learning rate η = √(2 ln K / (K T)) is the tuning of Lattimore & Szepesvári
//! (2020), Thm 11.2, under which EXP3 (γ = 0) has expected regret ≤ √(2 T K ln K) against the
//! best fixed arm; EXP3-IX uses the same η with γ = η/2 (Neu 2015).
//!
//! The distribution for the next step is recomputed at the end of [`Policy::update`] (and once
//! at construction), so `select` only samples, and the probability the update divides by is
//! exactly the one the arm was drawn with. The weights are exp(−η (L̂_a − min L̂)), so the
//! largest weight is 1 and nothing overflows; a step costs K exponentials and no allocation.

use super::{BanditInfo, Policy, add_loss_estimate, loss_of};
use crate::rng::{self, Stream};

/// The default learning rate √(2 ln K / (K T)) (Lattimore & Szepesvári 2020, Thm 11.2;
/// Neu 2015). Zero when K = 1, where there is nothing to learn.
fn default_eta(info: &BanditInfo) -> f64 {
    let k = info.arms as f64;
    let t = info.horizon.max(1) as f64;
    (2.0 * k.ln() / (k * t)).sqrt()
}

/// Writes p_a = w_a / Σ w with w_a = exp(−η (L̂_a − min L̂)) into `probs`.
#[inline]
fn exponential_weights(cum_loss: &[f64], eta: f64, probs: &mut [f64]) {
    let min = cum_loss.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    for (p, &l) in probs.iter_mut().zip(cum_loss) {
        // l − min ≥ 0 and finite (the estimates are capped at f64::MAX), so the weight is in
        // [0, 1] and is 1 for the leader; Σ w ≥ 1 and the division below is safe.
        let w = if l == min { 1.0 } else { (-eta * (l - min)).exp() };
        *p = w;
        sum += w;
    }
    let inv = 1.0 / sum;
    for p in probs.iter_mut() {
        *p *= inv;
    }
}

/// EXP3 with an optional uniform mixture.
pub struct Exp3 {
    eta: f64,
    gamma: f64,
    range: (f64, f64),
    /// L̂_a, the importance-weighted cumulative loss estimates.
    cum_loss: Vec<f64>,
    /// The distribution the next arm is drawn from.
    probs: Vec<f64>,
}

impl Exp3 {
    /// `eta = None` is the default √(2 ln K / (K T)); `gamma` ∈ [0, 1] is the weight of the
    /// uniform mixture; rewards are mapped to losses with `range` = (reward_min, reward_max).
    pub fn new(info: &BanditInfo, eta: Option<f64>, gamma: f64, range: (f64, f64)) -> Self {
        let k = info.arms;
        let mut p = Exp3 {
            eta: eta.unwrap_or_else(|| default_eta(info)),
            gamma,
            range,
            cum_loss: vec![0.0; k],
            probs: vec![0.0; k],
        };
        p.recompute();
        p
    }

    /// The learning rate in use.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// The distribution the next arm will be drawn from.
    pub fn probabilities(&self) -> &[f64] {
        &self.probs
    }

    /// The cumulative loss estimates L̂.
    pub fn loss_estimates(&self) -> &[f64] {
        &self.cum_loss
    }

    fn recompute(&mut self) {
        exponential_weights(&self.cum_loss, self.eta, &mut self.probs);
        if self.gamma > 0.0 {
            let uniform = self.gamma / self.probs.len() as f64;
            let keep = 1.0 - self.gamma;
            for p in self.probs.iter_mut() {
                *p = keep * *p + uniform;
            }
        }
    }
}

impl Policy for Exp3 {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        rng::categorical(rng, &self.probs)
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        add_loss_estimate(&mut self.cum_loss[arm], loss_of(reward, self.range), self.probs[arm]);
        self.recompute();
    }
}

/// EXP3 with implicit exploration (Neu 2015).
pub struct Exp3Ix {
    eta: f64,
    gamma: f64,
    range: (f64, f64),
    /// L̂_a, the (optimistically biased) cumulative loss estimates.
    cum_loss: Vec<f64>,
    /// The distribution the next arm is drawn from.
    probs: Vec<f64>,
}

impl Exp3Ix {
    /// `eta = None` is the default √(2 ln K / (K T)); `gamma = None` is η/2 (Neu 2015);
    /// rewards are mapped to losses with `range` = (reward_min, reward_max).
    pub fn new(info: &BanditInfo, eta: Option<f64>, gamma: Option<f64>, range: (f64, f64)) -> Self {
        let k = info.arms;
        let eta = eta.unwrap_or_else(|| default_eta(info));
        let mut p =
            Exp3Ix { eta, gamma: gamma.unwrap_or(eta / 2.0), range, cum_loss: vec![0.0; k], probs: vec![0.0; k] };
        exponential_weights(&p.cum_loss, p.eta, &mut p.probs);
        p
    }

    /// The learning rate in use.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// The implicit-exploration parameter in use.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }

    /// The distribution the next arm will be drawn from.
    pub fn probabilities(&self) -> &[f64] {
        &self.probs
    }

    /// The cumulative loss estimates L̂.
    pub fn loss_estimates(&self) -> &[f64] {
        &self.cum_loss
    }
}

impl Policy for Exp3Ix {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        rng::categorical(rng, &self.probs)
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        let denom = self.probs[arm] + self.gamma;
        add_loss_estimate(&mut self.cum_loss[arm], loss_of(reward, self.range), denom);
        exponential_weights(&self.cum_loss, self.eta, &mut self.probs);
    }
}

/// Hedge (Freund & Schapire 1997; Slivkins 2019, ch. 5): exponential weights with **full
/// information**. After every step it sees the reward every arm would have paid, so its loss
/// totals are exact, not importance-weighted estimates: p_a ∝ exp(−η L_a). With losses in
/// [0, 1] and η = √(8 ln K / T) its expected regret against the best fixed arm is at most
/// √(T ln K / 2) (Cesa-Bianchi & Lugosi 2006, Thm 2.2).
///
/// The harness gives it every arm's reward from the step's one random draw (common random
/// numbers make that free), so it runs on classic and scheduled environments; it has no
/// bandit-feedback update and is refused on contextual environments.
pub struct Hedge {
    eta: f64,
    range: (f64, f64),
    /// L_a, each arm's cumulative loss.
    cum_loss: Vec<f64>,
    probs: Vec<f64>,
}

impl Hedge {
    /// `eta = None` is √(8 ln K / T); rewards are mapped to losses with `range`.
    pub fn new(info: &BanditInfo, eta: Option<f64>, range: (f64, f64)) -> Self {
        let k = info.arms;
        let t = info.horizon.max(1) as f64;
        let eta = eta.unwrap_or_else(|| (8.0 * (k as f64).ln() / t).sqrt());
        let mut p = Hedge { eta, range, cum_loss: vec![0.0; k], probs: vec![0.0; k] };
        exponential_weights(&p.cum_loss, p.eta, &mut p.probs);
        p
    }

    /// The learning rate in use.
    pub fn eta(&self) -> f64 {
        self.eta
    }

    /// The distribution the next arm will be drawn from.
    pub fn probabilities(&self) -> &[f64] {
        &self.probs
    }
}

impl Policy for Hedge {
    const FULL_INFORMATION: bool = true;

    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        rng::categorical(rng, &self.probs)
    }

    /// Bandit feedback is not Hedge's setting; the harness never calls this (it calls
    /// [`Policy::update_all`]). Counting the one observed loss keeps it well-defined.
    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.cum_loss[arm] += loss_of(reward, self.range);
        exponential_weights(&self.cum_loss, self.eta, &mut self.probs);
    }

    #[inline]
    fn update_all(&mut self, _arm: usize, rewards: &[f64], _rng: &mut Stream) {
        for (l, &r) in self.cum_loss.iter_mut().zip(rewards) {
            *l += loss_of(r, self.range);
        }
        exponential_weights(&self.cum_loss, self.eta, &mut self.probs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RewardModel;
    use crate::policy::testing::expected_regret;
    use crate::rng::Role;
    use proptest::prelude::*;

    fn info(arms: usize, horizon: u64, model: &RewardModel) -> BanditInfo<'_> {
        BanditInfo { arms, horizon, reward_model: model }
    }

    /// The regret bound √(2 T K ln K) of Lattimore & Szepesvári (2020), Thm 11.2 (the same
    /// order as Slivkins 2019, ch. 6): EXP3 with γ = 0 and η = √(2 ln K / (K T)), losses in
    /// [0, 1], oblivious adversary. It bounds the expected (pseudo-)regret against the best
    /// *fixed* arm, E[Σ_t ℓ_t(A_t)] − min_a Σ_t ℓ_t(a); it says nothing about a single run.
    fn exp3_bound(t: u64, k: usize) -> f64 {
        let (t, k) = (t as f64, k as f64);
        (2.0 * t * k * k.ln()).sqrt()
    }

    #[test]
    fn default_learning_rates() {
        let m = RewardModel::Bernoulli;
        let i = info(4, 1000, &m);
        let eta = (2.0 * 4f64.ln() / 4000.0).sqrt();
        assert!((Exp3::new(&i, None, 0.0, (0.0, 1.0)).eta() - eta).abs() < 1e-15);
        let ix = Exp3Ix::new(&i, None, None, (0.0, 1.0));
        assert!((ix.eta() - eta).abs() < 1e-15);
        assert!((ix.gamma() - eta / 2.0).abs() < 1e-15);
        let ix = Exp3Ix::new(&i, Some(0.3), None, (0.0, 1.0));
        assert_eq!((ix.eta(), ix.gamma()), (0.3, 0.15));
        // K = 1: nothing to learn, one arm with probability 1.
        let one = info(1, 10, &m);
        let mut p = Exp3::new(&one, None, 0.0, (0.0, 1.0));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for _ in 0..5 {
            assert_eq!(p.select(&mut rng), 0);
            p.update(0, 0.0, &mut rng);
        }
        assert_eq!(p.probabilities(), &[1.0]);
    }

    #[test]
    fn exp3_probabilities_match_a_hand_computation() {
        // K = 3, η = 0.5, γ = 0.3, rewards in [0, 2] (loss = (2 − r)/2).
        let m = RewardModel::Bernoulli;
        let mut p = Exp3::new(&info(3, 100, &m), Some(0.5), 0.3, (0.0, 2.0));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        let mix = |w: [f64; 3]| {
            let s: f64 = w.iter().sum();
            w.map(|x| 0.7 * x / s + 0.1)
        };
        // Rounding: every probability is a few operations on numbers ≤ 1 (error ≲ 1e-16 each),
        // so 1e-14 is a loose tolerance for these comparisons.
        assert!(p.probabilities().iter().all(|&x| (x - 1.0 / 3.0).abs() < 1e-14));
        // Step 1: arm 0, reward 0 → loss 1, drawn with p = 1/3: L̂ = (3, 0, 0).
        p.update(0, 0.0, &mut rng);
        let p1 = mix([(-1.5f64).exp(), 1.0, 1.0]);
        // Step 2: arm 1, reward 1 → loss 1/2, drawn with p1[1]: L̂_1 = 0.5 / p1[1].
        p.update(1, 1.0, &mut rng);
        let l1 = 0.5 / p1[1];
        let min = l1.min(3.0).min(0.0);
        let p2 = mix([(-0.5 * (3.0 - min)).exp(), (-0.5 * (l1 - min)).exp(), (-0.5 * (0.0 - min)).exp()]);
        // Step 3: arm 2, reward 3 (clipped: loss 0) → L̂ unchanged, probabilities unchanged.
        p.update(2, 3.0, &mut rng);
        for a in 0..3 {
            assert!((p.probabilities()[a] - p2[a]).abs() < 1e-14, "{:?} vs {p2:?}", p.probabilities());
        }
        assert!((p.loss_estimates()[1] - l1).abs() < 1e-14);
        assert_eq!(p.loss_estimates()[0], 3.0);
    }

    #[test]
    fn exp3_ix_probabilities_match_a_hand_computation() {
        // K = 2, η = 1, γ = 0.25, rewards in [0, 1].
        let m = RewardModel::Bernoulli;
        let mut p = Exp3Ix::new(&info(2, 100, &m), Some(1.0), Some(0.25), (0.0, 1.0));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        assert_eq!(p.probabilities(), &[0.5, 0.5]);
        // Arm 0 loses 1 with p = 1/2: L̂_0 = 1/(0.5 + 0.25) = 4/3.
        p.update(0, 0.0, &mut rng);
        let q0 = 1.0 / (1.0 + (4.0f64 / 3.0).exp()); // p_0 = e^{-4/3} / (e^{-4/3} + 1)
        assert!((p.probabilities()[0] - q0).abs() < 1e-14);
        // Arm 1 loses 0.6 with p = 1 − q0: L̂_1 = 0.6 / (1 − q0 + 0.25).
        p.update(1, 0.4, &mut rng);
        let l1 = 0.6 / (1.0 - q0 + 0.25);
        let q0 = 1.0 / (1.0 + (4.0 / 3.0 - l1).exp());
        assert!((p.probabilities()[0] - q0).abs() < 1e-14, "{:?} {q0}", p.probabilities());
        assert!((p.probabilities()[1] - (1.0 - q0)).abs() < 1e-14);
    }

    /// [`expected_regret`] with this module's seed tag.
    fn stochastic_regret<P: Policy>(
        means: &[f64],
        horizon: u64,
        seeds: u64,
        make: impl FnMut() -> P,
        probs: impl Fn(&P) -> &[f64],
    ) -> f64 {
        expected_regret(means, horizon, seeds, (0, "exp3-test"), make, probs)
    }

    #[test]
    fn stochastic_regret_is_below_the_exp3_bound() {
        // Two Bernoulli arms [0.4, 0.6], T = 2000, 30 seeds. Bound √(2·2000·2·ln 2) ≈ 74.5.
        // Heuristic for the mean: E[L̂_0 − L̂_1] grows by Δ = 0.2 per step, so the bad arm's
        // probability is ≈ 1/(1 + e^{ηΔt}) and the regret ≈ Δ ∫ 1/(1 + e^{ηΔt}) dt ≈ ln 2/η
        // ≈ 37 with η = √(ln 2 / 2000) ≈ 0.0186, half the bound. Measured: EXP3 ≈ 43,
        // EXP3-IX ≈ 48. Averaging the conditional expectation ⟨p_t, Δ⟩ over 30 seeds keeps the
        // noise of the mean to a few units.
        // For EXP3-IX the guaranteed constant is larger (ln K/η + η T K = 1.5·√(2TK ln K) with
        // γ = η/2), so the EXP3 bound is a sharper, empirical check there.
        let (means, t) = ([0.4, 0.6], 2000);
        let m = RewardModel::Bernoulli;
        let i = info(2, t, &m);
        let bound = exp3_bound(t, 2);
        let r = stochastic_regret(&means, t, 30, || Exp3::new(&i, None, 0.0, (0.0, 1.0)), |p| p.probabilities());
        assert!(r < bound, "EXP3 regret {r} vs bound {bound}");
        assert!(r > 10.0, "EXP3 regret {r} is implausibly small");
        let r = stochastic_regret(&means, t, 30, || Exp3Ix::new(&i, None, None, (0.0, 1.0)), |p| p.probabilities());
        assert!(r < bound, "EXP3-IX regret {r} vs bound {bound}");
        assert!(r > 10.0, "EXP3-IX regret {r} is implausibly small");
    }

    /// Mean over `seeds` runs of Σ_t ⟨p_t, ℓ_t⟩ − min_a Σ_t ℓ_t(a) on an oblivious loss table
    /// (rewards 1 − ℓ with range [0, 1]).
    fn table_regret<P: Policy>(
        losses: &[[f64; 2]],
        seeds: u64,
        mut make: impl FnMut() -> P,
        probs: impl Fn(&P) -> &[f64],
    ) -> f64 {
        let best_fixed = (0..2).map(|a| losses.iter().map(|l| l[a]).sum::<f64>()).fold(f64::INFINITY, f64::min);
        let mut total = 0.0;
        for seed in 0..seeds {
            let mut policy = make();
            let mut prng = rng::stream(seed, Role::Policy, &["exp3-table"], 0);
            let mut expected = 0.0;
            for l in losses {
                expected += probs(&policy).iter().zip(l).map(|(p, l)| p * l).sum::<f64>();
                let a = policy.select(&mut prng);
                policy.update(a, 1.0 - l[a], &mut prng);
            }
            total += expected - best_fixed;
        }
        total / seeds as f64
    }

    #[test]
    fn adversarial_table_regret_is_below_the_exp3_bound() {
        // Oblivious loss tables, K = 2, T = 2000, 30 seeds; bound √(2·2000·2·ln 2) ≈ 74.5.
        let t = 2000;
        let m = RewardModel::Bernoulli;
        let i = info(2, t as u64, &m);
        let bound = exp3_bound(t as u64, 2);
        let exp3 = || Exp3::new(&i, None, 0.0, (0.0, 1.0));
        let ix = || Exp3Ix::new(&i, None, None, (0.0, 1.0));

        // Arm 0 perfect (loss 0, arm 1 loss 1) for the first half, arm 1 for the second: both
        // fixed arms lose 1000. Against a fixed arm a policy that follows the switch has
        // *negative* regret, and EXP3 does: its estimate of the bad arm grows by rare jumps
        // 1/p (mean 1 per step, but heavy-tailed), so the gap it has to unlearn is usually far
        // below its mean 1000. Measured: EXP3 ≈ −450, EXP3-IX ≈ −550. Only the bound is a
        // property here.
        let switch: Vec<[f64; 2]> = (0..t).map(|s| if s < t / 2 { [0.0, 1.0] } else { [1.0, 0.0] }).collect();
        let r = table_regret(&switch, 30, exp3, |p| p.probabilities());
        assert!(r < bound, "EXP3 regret {r} vs bound {bound}");
        let r = table_regret(&switch, 30, ix, |p| p.probabilities());
        assert!(r < bound, "EXP3-IX regret {r} vs bound {bound}");

        // Alternating losses: arm 0 loses 1 on even steps and 0 on odd ones (mean 0.5), arm 1
        // loses 0 on even steps and 0.8 on odd ones (mean 0.4), so the best fixed arm (arm 1,
        // loss 800) is the worse one on every other step. The loss-estimate gap grows by 0.1
        // per step on average, which is the stochastic picture with Δ = 0.1: regret
        // ≈ Δ ∫ 1/(1 + e^{ηΔt}) dt ≈ (1/η) ln(2/(1 + e^{−ηΔT})) ≈ 36 with η ≈ 0.0186, plus
        // the cost of the estimates' noise. Measured: EXP3 ≈ 42, EXP3-IX ≈ 46 (standard error
        // ≈ 2 over 30 seeds), so both the bound and a lower sanity limit of 10 are ≥ 10 standard
        // errors away.
        let alternating: Vec<[f64; 2]> = (0..t).map(|s| if s % 2 == 0 { [1.0, 0.0] } else { [0.0, 0.8] }).collect();
        let r = table_regret(&alternating, 30, exp3, |p| p.probabilities());
        assert!(r < bound, "EXP3 regret {r} vs bound {bound}");
        assert!(r > 10.0, "EXP3 regret {r} is implausibly small");
        let r = table_regret(&alternating, 30, ix, |p| p.probabilities());
        assert!(r < bound, "EXP3-IX regret {r} vs bound {bound}");
        assert!(r > 10.0, "EXP3-IX regret {r} is implausibly small");
    }

    #[test]
    fn extreme_learning_rates_stay_finite() {
        // A huge η drives the losers' probabilities to 0 (exp underflow); the leader keeps
        // probability ≥ 1/K, so its estimate grows by at most K per step and stays finite.
        let m = RewardModel::Bernoulli;
        let i = info(5, 1000, &m);
        let mut e = Exp3::new(&i, Some(1e300), 0.0, (0.0, 1.0));
        let mut ix = Exp3Ix::new(&i, Some(1e300), Some(0.0), (0.0, 1.0));
        let mut rng = rng::stream(9, Role::Policy, &["extreme"], 0);
        for s in 0..1000 {
            let r = (s % 3) as f64 / 2.0;
            let a = e.select(&mut rng);
            e.update(a, r, &mut rng);
            let a = ix.select(&mut rng);
            ix.update(a, r, &mut rng);
        }
        for p in [e.probabilities(), ix.probabilities()] {
            assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0), "{p:?}");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{p:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any arm/reward sequence keeps a valid distribution with p_a ≥ γ/K.
        #[test]
        fn distributions_stay_valid(
            k in 2usize..10,
            eta in 1e-4f64..10.0,
            gamma in 0.0f64..1.0,
            steps in proptest::collection::vec((0usize..10, -0.5f64..1.5), 1..200),
        ) {
            let m = RewardModel::Bernoulli;
            let i = info(k, 1000, &m);
            let mut e = Exp3::new(&i, Some(eta), gamma, (0.0, 1.0));
            let mut ix = Exp3Ix::new(&i, Some(eta), Some(gamma), (0.0, 1.0));
            let mut rng = rng::stream(0, Role::Policy, &["prop"], 0);
            for (a, r) in steps {
                // Only arms with positive probability can be drawn, so only those are updated.
                let a = a % k;
                if e.probabilities()[a] > 0.0 {
                    e.update(a, r, &mut rng);
                }
                if ix.probabilities()[a] > 0.0 {
                    ix.update(a, r, &mut rng);
                }
                for p in [e.probabilities(), ix.probabilities()] {
                    prop_assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0));
                    prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                }
                let floor = gamma / k as f64;
                prop_assert!(e.probabilities().iter().all(|&x| x >= floor * (1.0 - 1e-12)));
            }
        }
    }
}
