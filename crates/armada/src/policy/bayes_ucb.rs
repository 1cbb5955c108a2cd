//! Bayes-UCB (Kaufmann, Cappé, Garivier 2012).
//!
//! At step t (1-based: t = pulls so far + 1) play the argmax over arms of the quantile of level
//! 1 − δ_t, δ_t = 1/(t (ln T)^c), of the arm's posterior; (ln T)^c is taken as 1 when T ≤ e.
//! Default c = 0, the value of the paper's experiments (c = 5 in its Theorem 1). Ties are broken
//! at random.
//!
//! * Bernoulli: uniform prior, posterior Beta(1 + S_a, 1 + F_a) with S_a the sum of the arm's
//!   rewards clipped to [0, 1] and F_a = n_a − S_a. Unpulled arms need no special case: their
//!   quantile is the prior's, 1 − δ_t.
//! * Gaussian with known σ_a: posterior N(S_a/(n_a + 1), σ_a²/(n_a + 1)), the flat-ish prior of
//!   Gaussian Thompson sampling (`thompson.rs`); quantile = mean + sd·Φ⁻¹(1 − δ_t) with
//!   Φ⁻¹(1 − δ) = √2·erfc⁻¹(2δ). Unpulled arms are pulled first, in index order.
//!
//! The Beta quantile is computed from the tail side: q = 1 − y with I_y(1 + F, 1 + S) = δ, so a
//! tail probability of 1e-12 keeps its relative precision (1 − δ would not). When S = 0 or F = 0
//! the root has a closed form; otherwise y solves ln I_y(b, a) = ln δ by Halley's method
//! (statrs' `beta_reg` for I, its derivatives in closed form with ln B(a, b) cached per arm)
//! from Carter's approximation (as in AS 109), in a bracket with Newton and bisection fallbacks
//! and an iteration cap; the tail probability comes out right to a relative ~1e-13. statrs'
//! `inv_beta_reg` (AS 109) is not used: it has no iteration cap and is reported to hang or panic
//! at extreme tail levels (statrs issue #435). δ is floored at e^{−600}.
//!
//! Speed (Bernoulli): solving every arm at every step would cost K root-findings. Instead each
//! arm gets a cheap upper bound on its quantile and is solved only if that bound reaches the best
//! quantile found so far (the arm with the largest bound is solved first):
//!
//! * α/(α + β) + √(ln(1/δ) / (2(α + β + 1))) for Beta(α, β), which is 1/(4(α + β + 1))-sub-
//!   Gaussian (Marchal & Arbel 2017);
//! * the tangent line at the arm's last solve, valid while it is not pulled: with L = ln(1/δ),
//!   L = −ln P(X > q) is a convex increasing function of q (a Beta with shapes ≥ 1 has a
//!   log-concave density, hence a log-concave survival function), so q is concave in L and
//!   q(L) ≤ q(L₀) + (L − L₀)·q'(L₀), q'(L₀) = δ₀/density(q(L₀)). As L grows like ln t, this
//!   is tight and typically one or two arms are solved per step.
//!
//! Every maximal arm is still solved exactly, and a solve depends on (S_a, F_a, δ_t) only, so
//! arms with equal posteriors get bit-identical quantiles and the choice is uniform among the
//! exact maximisers, as with a full argmax (the stream may be consumed differently).

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};
use statrs::function::beta::{beta_reg, ln_beta};
use statrs::function::erf::erfc_inv;

/// ln δ is floored here (δ ≥ 2.7e-261), far beyond any (t, T, c) of a real experiment, so the
/// incomplete beta function never underflows at the root.
const MIN_LN_DELTA: f64 = -600.0;
/// The quantile solver stops once |ln I − ln δ| ≤ this, i.e. the tail probability is right to a
/// relative 1e-13 (or once y = 1 − q stops moving by more than a few ulps).
const LN_TAIL_TOL: f64 = 1e-13;
/// An arm is pruned only if its bound is below the best exact quantile by this margin, far above
/// the solver's error.
const PRUNE_MARGIN: f64 = 1e-9;
/// The cached tangent slope is inflated by this factor, covering its rounding error (it is
/// computed at the converged root, relative error ≪ 1e-9).
const SLOPE_SAFETY: f64 = 1.0 + 1e-6;

/// The tail level of one step, shared by every arm: ln δ (floored, ≤ 0) and
/// z = Φ⁻¹(1 − δ) = √2·erfc⁻¹(2δ) (−∞ for δ ≥ 1).
#[derive(Clone, Copy, Debug)]
struct Level {
    ln_delta: f64,
    z: f64,
}

impl Level {
    fn new(ln_delta: f64) -> Self {
        if ln_delta.is_nan() || ln_delta >= 0.0 {
            return Level { ln_delta: 0.0, z: f64::NEG_INFINITY };
        }
        let ln_delta = ln_delta.max(MIN_LN_DELTA);
        Level { ln_delta, z: std::f64::consts::SQRT_2 * erfc_inv(2.0 * ln_delta.exp()) }
    }
}

/// The sub-Gaussian bound on the (1 − δ)-quantile of Beta(a, b) (Marchal & Arbel 2017: the
/// variance proxy of Beta(a, b) is at most 1/(4(a + b + 1))), given ln δ ≤ 0.
#[inline]
fn beta_quantile_bound(a: f64, b: f64, ln_delta: f64) -> f64 {
    a / (a + b) + (-ln_delta / (2.0 * (a + b + 1.0))).sqrt()
}

/// The (1 − δ)-quantile of Beta(a, b), a, b ≥ 1, from ln δ and ln B(a, b): the q with
/// P(X > q) = δ. Returns 0 for δ ≥ 1 (a level ≤ 0); never NaN, always in [0, 1]. (The policy
/// calls `beta_tail_root` directly, sharing the level across arms.)
#[cfg(test)]
fn beta_upper_quantile(a: f64, b: f64, ln_delta: f64, ln_beta_ab: f64) -> f64 {
    1.0 - beta_tail_root(a, b, Level::new(ln_delta), ln_beta_ab).0
}

/// The y ∈ [0, 1] with I_y(b, a) = δ, i.e. P(X > 1 − y) = δ for X ~ Beta(a, b) (a, b ≥ 1), and
/// the derivative dq/dL = δ/density(q) of the quantile q = 1 − y in L = ln(1/δ) (infinite for
/// δ ≥ 1). y is one minus the upper quantile, kept separate so that tiny tails keep their
/// relative precision. Returns y = 1 for δ ≥ 1.
fn beta_tail_root(a: f64, b: f64, level: Level, ln_beta_ab: f64) -> (f64, f64) {
    let ln_delta = level.ln_delta;
    if ln_delta >= 0.0 {
        return (1.0, f64::INFINITY);
    }
    let delta = ln_delta.exp();
    if a == 1.0 {
        // I_y(b, 1) = y^b, so y = δ^{1/b}; the density b y^{b−1} there is bδ/y.
        let y = (ln_delta / b).exp();
        return (y, y / b);
    }
    if b == 1.0 {
        // I_y(1, a) = 1 − (1 − y)^a, so 1 − y = (1 − δ)^{1/a}; the density is a(1 − y)^{a−1}.
        let ln_1my = (-delta).ln_1p() / a;
        let y = -ln_1my.exp_m1();
        return (y, delta / (a * ((a - 1.0) * ln_1my).exp()));
    }
    // Carter's approximation of the δ-quantile of Beta(b, a) (AS 109, Remark AS R19), with the
    // exact normal quantile z in place of Hastings' approximation.
    let z = level.z;
    let r = (z * z - 3.0) / 6.0;
    let (s, t) = (1.0 / (2.0 * b - 1.0), 1.0 / (2.0 * a - 1.0));
    let h = 2.0 / (s + t);
    let w = z * (h + r).sqrt() / h - (t - s) * (r + 5.0 / 6.0 - 2.0 / (3.0 * h));
    let y_carter = b / (b + a * (2.0 * w).exp());
    // I_y(b, a) ≤ y^b / (b B(a, b)) when a ≥ 1, so (δ b B)^{1/b} is left of the root.
    let y_pow = ((ln_delta + b.ln() + ln_beta_ab) / b).exp();
    let mut y = y_carter.max(y_pow);
    if y.is_nan() || y <= 0.0 || y >= 1.0 {
        y = 0.5;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..100 {
        let cdf = beta_reg(b, a, y);
        if cdf.is_nan() || cdf <= 0.0 {
            // Underflow: far left of the root.
            lo = y;
            y = bisect(lo, hi);
            continue;
        }
        let ln_cdf = cdf.ln();
        let f = ln_cdf - ln_delta;
        if f.abs() <= LN_TAIL_TOL {
            break;
        }
        if f > 0.0 {
            hi = y;
        } else {
            lo = y;
        }
        // f = ln I_y(b, a) − ln δ; f' = g = density/I; with A = (b − 1)/y − (a − 1)/(1 − y) the
        // slope of the log-density, f'' = g(A − g) and f''' = f''(A − g) + g(A' − f'').
        let (ly, l1y) = (y.ln(), (1.0 - y).ln());
        let g = ((b - 1.0) * ly + (a - 1.0) * l1y - ln_beta_ab - ln_cdf).exp();
        if f.abs() <= 4.0 * f64::EPSILON * y * g {
            // The Newton step is below a few ulps of y: no step can improve y any more.
            break;
        }
        let slope_a = (b - 1.0) / y - (a - 1.0) / (1.0 - y);
        let f2 = g * (slope_a - g);
        let halley = y - 2.0 * f * g / (2.0 * g * g - f * f2);
        let newton = y - f / g;
        let inside = |x: f64| x > lo && x < hi;
        let (next, converged) = if inside(halley) {
            // Halley's error after a step s is ≈ |f''²/(4f'²) − f'''/(6f')|·s³; when the
            // residual it implies is below 1e-14 and s is small against the curvature scale
            // f'/f'', the step lands on the root and no check is needed.
            let d_slope_a = -(b - 1.0) / (y * y) - (a - 1.0) / ((1.0 - y) * (1.0 - y));
            let f3 = f2 * (slope_a - g) + g * (d_slope_a - f2);
            let k = (f2 / (2.0 * g)).powi(2) + (f3 / (6.0 * g)).abs();
            let step = (halley - y).abs();
            (halley, g * k * step * step * step <= 1e-14 && step * (f2 / g).abs() <= 1e-3)
        } else if inside(newton) {
            (newton, false)
        } else {
            (bisect(lo, hi), false)
        };
        // A step below a few ulps cannot improve y (I's own rounding is then the limit).
        let tiny = (next - y).abs() <= 4.0 * f64::EPSILON * y || hi - lo <= 4.0 * f64::EPSILON * hi;
        y = next;
        if converged || tiny {
            break;
        }
    }
    let y = y.clamp(0.0, 1.0);
    // dq/dL = δ / density at the root (the density of Beta(b, a) at y is that of Beta(a, b) at
    // q = 1 − y).
    let ln_density = (b - 1.0) * y.ln() + (a - 1.0) * (1.0 - y).ln() - ln_beta_ab;
    (y, (ln_delta - ln_density).exp())
}

/// The midpoint of [lo, hi], geometric when the ends are far apart (so tiny roots are reached in
/// a few steps).
#[inline]
fn bisect(lo: f64, hi: f64) -> f64 {
    if lo > 0.0 && hi > 4.0 * lo { (lo * hi).sqrt() } else { 0.5 * (lo + hi) }
}

pub struct BayesUcb {
    bernoulli: bool,
    /// c ln ln T, the log of the (ln T)^c factor (0 when T ≤ e).
    ln_factor: f64,
    counts: Vec<f64>,
    /// S_a: sum of rewards (clipped to [0, 1] in the Bernoulli case).
    sums: Vec<f64>,
    /// ln B(1 + S_a, 1 + F_a) (Bernoulli).
    ln_betas: Vec<f64>,
    sigmas: Vec<f64>,
    /// Bernoulli: the last exact solve of each arm since its last pull, as (L₀, q(L₀), q'(L₀))
    /// with L = ln(1/δ); `None` after a pull.
    solved: Vec<Option<(f64, f64, f64)>>,
    /// Scratch: per-arm quantile bounds (Bernoulli).
    bounds: Vec<f64>,
    /// Pulls so far.
    t: u64,
}

impl BayesUcb {
    pub fn new(info: &BanditInfo, bernoulli: bool, c: f64) -> Self {
        let k = info.arms;
        let ln_t = (info.horizon as f64).ln();
        BayesUcb {
            bernoulli,
            // (ln T)^c is taken as 1 when T ≤ e; c = 0 gives 1 too.
            ln_factor: if ln_t > 1.0 && c > 0.0 { c * ln_t.ln() } else { 0.0 },
            counts: vec![0.0; k],
            sums: vec![0.0; k],
            ln_betas: vec![0.0; k], // ln B(1, 1) = 0
            sigmas: (0..k).map(|a| info.sigma(a)).collect(),
            solved: vec![None; k],
            bounds: vec![0.0; k],
            t: 0,
        }
    }

    /// ln δ_t for the next step: −ln t − c ln ln T, t = pulls so far + 1 (before flooring).
    pub fn ln_delta(&self) -> f64 {
        -((self.t + 1) as f64).ln() - self.ln_factor
    }

    /// Posterior parameters (α, β) of `arm` in the Bernoulli model.
    pub fn beta_posterior(&self, arm: usize) -> (f64, f64) {
        let s = self.sums[arm];
        (1.0 + s, 1.0 + (self.counts[arm] - s).max(0.0))
    }

    /// The posterior quantile of `arm` for the next step (infinite for an unpulled arm in the
    /// Gaussian model).
    pub fn quantile(&self, arm: usize) -> f64 {
        let level = Level::new(self.ln_delta());
        if self.bernoulli {
            let (a, b) = self.beta_posterior(arm);
            1.0 - beta_tail_root(a, b, level, self.ln_betas[arm]).0
        } else if self.counts[arm] == 0.0 {
            f64::INFINITY
        } else {
            self.gaussian_quantile(arm, level.z)
        }
    }

    #[inline]
    fn gaussian_quantile(&self, arm: usize, z: f64) -> f64 {
        let n1 = self.counts[arm] + 1.0;
        self.sums[arm] / n1 + self.sigmas[arm] / n1.sqrt() * z
    }
}

impl Policy for BayesUcb {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.counts.len();
        let level = Level::new(self.ln_delta());
        if !self.bernoulli {
            if (self.t as usize) < k {
                return self.t as usize;
            }
            let this = &*self;
            return rng::argmax_by(rng, k, |i| this.gaussian_quantile(i, level.z));
        }
        let big_l = -level.ln_delta;
        let (counts, sums, ln_betas) = (&self.counts[..k], &self.sums[..k], &self.ln_betas[..k]);
        let (solved, bounds) = (&mut self.solved[..k], &mut self.bounds[..k]);
        let posterior = |i: usize| (1.0 + sums[i], 1.0 + (counts[i] - sums[i]).max(0.0));
        let mut seed = 0;
        for i in 0..k {
            // Either bound is valid alone; the tangent is the tighter one in practice.
            bounds[i] = match solved[i] {
                Some((l0, q0, slope)) => q0 + (big_l - l0) * slope * SLOPE_SAFETY,
                None => {
                    let (a, b) = posterior(i);
                    beta_quantile_bound(a, b, level.ln_delta)
                }
            };
            if bounds[i] > bounds[seed] {
                seed = i;
            }
        }
        let mut solve = |i: usize| {
            let (a, b) = posterior(i);
            let (y, slope) = beta_tail_root(a, b, level, ln_betas[i]);
            let q = 1.0 - y;
            solved[i] = if slope.is_finite() { Some((big_l, q, slope)) } else { None };
            q
        };
        // Exact quantiles for the seed and every arm whose bound reaches the best exact quantile so
        // far; a pruned arm keeps its bound, which is below that exact quantile and hence below the
        // maximum. Maximal arms are never pruned, so the maximisers, and the uniform tie-break
        // among them, are those of the full argmax (two pruned arms with equal bounds may tie,
        // which only costs an extra draw).
        let mut best = solve(seed);
        bounds[seed] = best;
        for (i, v) in bounds.iter_mut().enumerate() {
            if i != seed && (v.is_nan() || *v >= best - PRUNE_MARGIN) {
                *v = solve(i);
                best = best.max(*v);
            }
        }
        let values = &*bounds;
        rng::argmax_by(rng, k, |i| values[i])
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        self.counts[arm] += 1.0;
        if self.bernoulli {
            self.sums[arm] += reward.clamp(0.0, 1.0);
            let (a, b) = self.beta_posterior(arm);
            self.ln_betas[arm] = ln_beta(a, b);
            self.solved[arm] = None;
        } else {
            self.sums[arm] += reward;
        }
    }
}

/// Φ⁻¹(1 − δ) from ln δ, as used for the Gaussian posterior.
#[cfg(test)]
fn normal_upper_quantile(ln_delta: f64) -> f64 {
    Level::new(ln_delta).z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{BernoulliEnv, Environment, RewardModel};
    use crate::policy::testing::optimal_share;
    use crate::rng::Role;
    use statrs::function::beta::inv_beta_reg;

    fn quantile(a: f64, b: f64, delta: f64) -> f64 {
        beta_upper_quantile(a, b, delta.ln(), ln_beta(a, b))
    }

    fn tail_root(a: f64, b: f64, delta: f64) -> f64 {
        beta_tail_root(a, b, Level::new(delta.ln()), ln_beta(a, b)).0
    }

    #[test]
    fn beta_quantile_inverts_beta_reg() {
        // I_q(a, b) must equal the level 1 − δ to 1e-8, and the tail I_y(b, a), y = 1 − q, must
        // equal δ to a relative 1e-8 (the tail-side formulation keeps tiny δ precise). Only
        // levels the policy can ask for are checked: δ_t ≤ 1/t ≤ 1/(n + 1) = 1/(a + b − 1).
        // (Near the centre of a Beta with shapes ≳ 1e4, statrs 0.19's `beta_reg` truncates its
        // continued fraction at 140 terms and is itself off, by ~1e-2 at shapes 1e6 (statrs
        // issue #434), so no solver on top of it could pass there.)
        let shapes = [1.0, 1.5, 2.0, 5.0, 30.0, 101.0, 1000.0, 2.5e4, 1e6];
        let deltas = [0.5, 0.1, 1e-2, 1e-4, 1e-7, 1e-12, 1e-20];
        for &a in &shapes {
            for &b in &shapes {
                for &d in deltas.iter().filter(|&&d| d <= 1.0 / (a + b - 1.0)) {
                    let q = quantile(a, b, d);
                    assert!((0.0..=1.0).contains(&q), "a={a} b={b} d={d}: {q}");
                    let level = beta_reg(a, b, q);
                    assert!((level - (1.0 - d)).abs() < 1e-8, "a={a} b={b} d={d}: I = {level}");
                    let y = tail_root(a, b, d);
                    let tail = beta_reg(b, a, y);
                    assert!((tail / d - 1.0).abs() < 1e-8, "a={a} b={b} d={d}: tail {tail}");
                }
            }
        }
    }

    #[test]
    fn beta_quantile_matches_high_precision_values() {
        // Reference quantiles computed offline with mpmath (40 digits) from the binomial
        // identity I_x(a, b) = P(Bin(a + b − 1, x) ≥ a) and bisection.
        let cases = [
            (2.0, 3.0, 0.05, 0.751_395_374_269_818_5),
            (11.0, 11.0, 1.0 / 81.0, 0.728_601_154_400_295_4),
            (30.0, 70.0, 1e-3, 0.449_891_261_086_527_9),
            (300.0, 700.0, 1e-4, 0.355_434_264_407_232_8),
            (3000.0, 7000.0, 1e-5, 0.319_765_336_830_888_7),
            (30000.0, 70000.0, 1e-6, 0.306_916_808_785_287_3),
            (5.0, 2.0, 1e-9, 0.999_991_834_945_300_2),
            (200.0, 2.0, 1e-12, 0.999_999_992_946_540_5),
        ];
        for (a, b, d, expect) in cases {
            let q = quantile(a, b, d);
            assert!((q - expect).abs() < 1e-11, "a={a} b={b} d={d}: {q} vs {expect}");
        }
    }

    #[test]
    fn beta_quantile_matches_closed_forms_and_statrs() {
        // Beta(1, 1) is uniform: the (1 − δ)-quantile is 1 − δ.
        assert!((quantile(1.0, 1.0, 0.3) - 0.7).abs() < 1e-14);
        // Beta(a, 1): CDF q^a, so q = (1 − δ)^{1/a}. Beta(1, b): 1 − (1 − q)^b = 1 − δ, so
        // q = 1 − δ^{1/b}.
        assert!((quantile(3.0, 1.0, 0.01) - 0.99f64.powf(1.0 / 3.0)).abs() < 1e-13);
        assert!((quantile(1.0, 4.0, 1e-6) - (1.0 - 1e-6f64.powf(0.25))).abs() < 1e-13);
        // Against statrs' AS 109 inverse at moderate levels.
        for &(a, b, d) in &[(2.0, 3.0, 0.05), (10.0, 40.0, 1e-3), (300.0, 700.0, 1e-4), (7.5, 2.25, 0.2)] {
            let ours = quantile(a, b, d);
            let theirs = 1.0 - inv_beta_reg(b, a, d);
            assert!((ours - theirs).abs() < 1e-10, "a={a} b={b} d={d}: {ours} vs {theirs}");
        }
        // Level ≤ 0 gives 0; monotone in the level and in the successes.
        assert_eq!(beta_upper_quantile(3.0, 4.0, 0.0, ln_beta(3.0, 4.0)), 0.0);
        assert!(quantile(3.0, 4.0, 1e-3) > quantile(3.0, 4.0, 1e-2));
        assert!(quantile(4.0, 4.0, 1e-3) > quantile(3.0, 5.0, 1e-3));
        // Floored extreme levels stay finite and in range.
        let q = beta_upper_quantile(200.0, 2.0, -1e4, ln_beta(200.0, 2.0));
        assert!((0.0..=1.0).contains(&q));
    }

    #[test]
    fn sub_gaussian_bound_dominates_the_quantile() {
        // The pruning is exact only if the bound really is an upper bound.
        let shapes = [1.0, 1.3, 2.0, 3.0, 8.0, 20.0, 50.5, 200.0, 1e3, 1e4];
        for &a in &shapes {
            for &b in &shapes {
                for &d in &[0.5, 0.2, 0.05, 1e-3, 1e-6, 1e-10] {
                    let q = quantile(a, b, d);
                    let bound = beta_quantile_bound(a, b, d.ln());
                    assert!(bound >= q + 1e-7, "a={a} b={b} d={d}: {bound} < {q}");
                }
            }
        }
    }

    #[test]
    fn tangent_line_bounds_the_quantile_from_above() {
        // q is concave in L = ln(1/δ), so the tangent at L0 (slope from `beta_tail_root`) is
        // above q for every L: the cache bound used for pruning.
        for &(a, b) in &[(1.0, 1.0), (1.0, 7.0), (4.0, 1.0), (2.0, 3.0), (12.5, 40.0), (300.0, 20.0), (5e3, 5e3)] {
            let lb = ln_beta(a, b);
            for &l0 in &[0.7, 2.0, 5.0, 9.0, 14.0] {
                let (y0, slope) = beta_tail_root(a, b, Level::new(-l0), lb);
                assert!(slope > 0.0 && slope.is_finite(), "a={a} b={b} L0={l0}");
                for &dl in &[-0.5, -1e-3, 1e-4, 1e-2, 0.3, 2.0] {
                    let l = l0 + dl;
                    let q = 1.0 - beta_tail_root(a, b, Level::new(-l), lb).0;
                    assert!(q <= 1.0 - y0 + dl * slope + 1e-12, "a={a} b={b} L0={l0} L={l}");
                }
                // The gap is second order in L − L0: one step of L (ln(t+1) − ln t at t = 1000)
                // leaves it below 1e-6.
                let dl = (1001f64 / 1000.0).ln();
                let q = 1.0 - beta_tail_root(a, b, Level::new(-(l0 + dl)), lb).0;
                assert!(1.0 - y0 + dl * slope - q < 1e-6, "a={a} b={b} L0={l0}");
            }
        }
    }

    #[test]
    fn bernoulli_policy_uses_the_stated_level_and_posterior() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 1000, reward_model: &m };
        let mut p = BayesUcb::new(&info, true, 5.0);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 0: rewards 1, 0, 1 (S = 2, F = 1); arm 1: 0.25 clipped-in-range and 3 → 1 (S = 1.25,
        // F = 0.75). Next step t = 6: δ = 1/(6 (ln 1000)^5).
        for (a, r) in [(0, 1.0), (1, 0.25), (0, 0.0), (1, 3.0), (0, 1.0)] {
            p.update(a, r, &mut rng);
        }
        assert_eq!(p.beta_posterior(0), (3.0, 2.0));
        assert_eq!(p.beta_posterior(1), (2.25, 1.75));
        let delta = 1.0 / (6.0 * 1000f64.ln().powi(5));
        assert!((p.ln_delta() - delta.ln()).abs() < 1e-12);
        for arm in 0..2 {
            let (a, b) = p.beta_posterior(arm);
            let q = p.quantile(arm);
            assert!((beta_reg(a, b, q) - (1.0 - delta)).abs() < 1e-8);
        }
        // For T ≤ e the (ln T)^c factor is 1: δ_1 = 1, so the first choice is a level-0 tie.
        let small = BanditInfo { arms: 2, horizon: 2, reward_model: &m };
        let p2 = BayesUcb::new(&small, true, 5.0);
        assert_eq!(p2.ln_delta(), 0.0);
        assert_eq!(p2.quantile(0), 0.0);
    }

    #[test]
    fn gaussian_policy_pulls_each_arm_then_uses_the_normal_quantile() {
        let m = RewardModel::Gaussian { sigmas: vec![1.0, 3.0, 0.5] };
        let info = BanditInfo { arms: 3, horizon: 100, reward_model: &m };
        let mut p = BayesUcb::new(&info, false, 0.0);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for (a, r) in [(0usize, 0.4), (1, -1.0), (2, 2.0)] {
            assert_eq!(p.select(&mut rng), a);
            p.update(a, r, &mut rng);
        }
        p.update(0, 1.6, &mut rng);
        // t = 5, δ = 1/5: Φ⁻¹(0.8) = 0.8416212335729143. Arm 0: S = 2, n = 2, σ = 1.
        let z = 0.841_621_233_572_914_3;
        assert!((normal_upper_quantile(p.ln_delta()) - z).abs() < 1e-12);
        let q0 = 2.0 / 3.0 + z / 3f64.sqrt();
        let q1 = -1.0 / 2.0 + 3.0 * z / 2f64.sqrt();
        let q2 = 2.0 / 2.0 + 0.5 * z / 2f64.sqrt();
        assert!((p.quantile(0) - q0).abs() < 1e-12);
        assert!((p.quantile(1) - q1).abs() < 1e-12);
        assert!((p.quantile(2) - q2).abs() < 1e-12);
        // q2 = 1 + 0.2976 = 1.2976 > q1 = −0.5 + 1.7854 = 1.2854 > q0 = 0.6667 + 0.4859 = 1.1526.
        assert_eq!(p.select(&mut rng), 2);
    }

    #[test]
    fn pruned_selection_always_picks_a_maximal_arm() {
        // The pruned argmax must choose an arm whose exact quantile is the maximum, at every
        // step of a run with close arms (so that pruning and exact ties both occur).
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 5, horizon: 600, reward_model: &m };
        let means = [0.1, 0.5, 0.55, 0.3, 0.5];
        let mut p = BayesUcb::new(&info, true, 0.0);
        let mut env = BernoulliEnv { means: &means };
        let mut r_rng = rng::stream(9, Role::Reward, &["bayesucb-prune"], 0);
        let mut p_rng = rng::stream(9, Role::Policy, &["bayesucb-prune"], 0);
        for _ in 0..600 {
            let best = (0..5).map(|a| p.quantile(a)).fold(f64::NEG_INFINITY, f64::max);
            let a = p.select(&mut p_rng);
            assert_eq!(p.quantile(a), best, "t = {}", p.t);
            let r = env.pull(a, &mut r_rng);
            p.update(a, r, &mut p_rng);
        }
    }

    #[test]
    fn exact_ties_are_broken_uniformly_despite_pruning() {
        // Arms 1 and 3 have identical posteriors Beta(11, 11) (bit-identical quantiles 0.7286
        // at t = 81) and beat arms 0 and 2 (Beta(1, 21), bound 0.045 + 0.309 = 0.355), which get
        // pruned: each of the two should win ≈ 1/2 of 2000 selections (binomial sd ≈ 22; allow
        // 5 sd).
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 4, horizon: 1000, reward_model: &m };
        let mut p = BayesUcb::new(&info, true, 0.0);
        let mut rng = rng::stream(4, Role::Policy, &["bayesucb-ties"], 0);
        for i in 0..20 {
            let r = (i % 2) as f64;
            for (a, r) in [(0, 0.0), (1, r), (2, 0.0), (3, r)] {
                p.update(a, r, &mut rng);
            }
        }
        let mut wins = [0usize; 4];
        for _ in 0..2000 {
            wins[p.select(&mut rng)] += 1;
        }
        assert_eq!(wins[0] + wins[2], 0);
        assert!((wins[1] as f64 - 1000.0).abs() < 110.0, "{wins:?}");
    }

    #[test]
    fn mostly_plays_the_better_arm_on_a_two_arm_instance() {
        // Means [0.3, 0.7], T = 5000. Bayes-UCB (c = 0) is asymptotically optimal like KL-UCB:
        // arm 0 is pulled about ln T / KL(0.3, 0.7) = 8.5/0.339 ≈ 25 times plus lower-order
        // terms. An average optimal share above 0.95 (at most 250 pulls of arm 0) leaves a wide
        // margin.
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 5000, reward_model: &m };
        let share = optimal_share(&[0.3, 0.7], 5000, 50, (51, "bayesucb-2arm"), || BayesUcb::new(&info, true, 0.0));
        assert!(share > 0.95, "{share}");
    }
}
