//! KL-UCB (Garivier & Cappé 2011).
//!
//! After one pull of every arm in index order, play the argmax of
//!
//! U_a = max{ q : n_a · KL(μ̄_a, q) ≤ ln t + c ln ln t },
//!
//! with t the number of pulls so far and n_a the pulls of arm a; the ln ln t term is used only
//! when t > e (it is taken as 0 otherwise). Default c = 0, the value of the paper's experiments
//! (c = 3 in its Theorem 1). Ties are broken at random.
//!
//! * Bernoulli family: KL is the Bernoulli divergence [`kl_bernoulli`] and μ̄ is clipped to
//!   [0, 1]. U_a ∈ [μ̄_a, 1] is found by a bracketed Halley/Newton iteration in u = −ln(1 − q)
//!   (convergence to 1e-12, never outside [μ̄_a, 1]; see `KlArm::index`).
//! * Gaussian family with known σ_a: KL(μ, q) = (q − μ)²/(2σ_a²), so
//!   U_a = μ̄_a + √(2σ_a² (ln t + c ln ln t) / n_a) in closed form.
//!
//! Speed (Bernoulli): solving for every arm at every step would cost K root-findings. Instead
//! each arm gets a cheap upper bound on its index and is solved only if that bound reaches the
//! best index found so far (the arm with the largest bound is solved first). With
//! d = (ln t + c ln ln t)/n_a, the bound is
//!
//! * the tangent line at the arm's last solve, if it has been solved since its last pull: as the
//!   inverse of the convex increasing map q ↦ KL(p, q), U is a concave function of d, so
//!   U(d) ≤ U(d₀) + (d − d₀)·U'(d₀) with U'(d₀) = q(1 − q)/(q − p) at q = U(d₀). Since d grows
//!   only like ln t between pulls, it is tight, and typically one or two arms are solved per
//!   step (measured: ≈ 1.01 solves per step, 3 iterations each, at K = 10, T = 1e5);
//! * otherwise U ≤ min(μ̄ + √(d/2), μ̄ + d + √(d² + 2μ̄d)), from Pinsker's inequality and from
//!   KL(p, q) ≥ (q − p)²/(2q) for q ≥ p.
//!
//! Every maximal arm is still solved exactly, and the solve depends on (μ̄_a, d) only (never on
//! the cache), so arms with equal statistics get bit-identical indices and the choice is uniform
//! among the exact maximisers, as with a full argmax (the stream may be consumed differently).

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

/// Probabilities are clamped into [KL_EPS, TOP] where a logarithm would diverge.
const KL_EPS: f64 = 1e-15;
/// 1 − KL_EPS as a double (1 − 1.11e-15).
const TOP: f64 = 1.0 - KL_EPS;
/// Absolute tolerance of the Bernoulli index solver, on u = −ln(1 − q).
const SOLVE_TOL: f64 = 1e-12;
/// An arm is pruned only if its upper bound is below the best exact index by this margin, far
/// above the solver's error, so rounding cannot prune a maximal arm.
pub(crate) const PRUNE_MARGIN: f64 = 1e-9;

/// The Bernoulli Kullback–Leibler divergence KL(Ber(p) ‖ Ber(q)), with 0·ln 0 = 0.
///
/// p is clipped to [0, 1] and q to [1e-15, 1 − 1e-15], so the result is finite (at most about
/// 34.5 when q is at the boundary and p is not) and never negative.
pub fn kl_bernoulli(p: f64, q: f64) -> f64 {
    let p = p.clamp(0.0, 1.0);
    let q = q.clamp(KL_EPS, TOP);
    let mut kl = 0.0;
    if p > 0.0 {
        kl += p * (p / q).ln();
    }
    if p < 1.0 {
        kl += (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
    }
    kl.max(0.0)
}

/// A valid upper bound on max{q ≥ p : KL(p, q) ≤ d}: the smaller of Pinsker's bound
/// p + √(d/2) and the bound p + d + √(d² + 2pd) from KL(p, q) ≥ (q − p)²/(2q) for q ≥ p.
#[inline]
pub(crate) fn kl_index_bound(p: f64, d: f64) -> f64 {
    let pinsker = p + (0.5 * d).sqrt();
    let chi2 = p + d + (d * d + 2.0 * p * d).sqrt();
    pinsker.min(chi2).min(1.0)
}

/// max{q ∈ [p, 1] : KL(p, q) ≤ d}, the Bernoulli KL-UCB index with d = bound / n.
///
/// p is clipped to [0, 1]. Returns p when d ≤ 0 (or NaN) and 1 when even q = 1 − 1e-15
/// satisfies the constraint. See `KlArm::index` for the method; the policy calls it directly,
/// with the per-arm constants cached, so this wrapper only serves the tests.
#[cfg(test)]
fn kl_ucb_bernoulli(p: f64, d: f64) -> f64 {
    KlArm::new(p).index(d).0
}

/// q = 1 − e^{−u}. `exp_m1` (several times slower than `exp` in glibc) only where `1 − exp`
/// would lose relative precision: below u = 1/64, i.e. q < 0.0155.
#[inline(always)]
fn q_of_u(u: f64) -> f64 {
    if u < 0.015625 { -(-u).exp_m1() } else { 1.0 - (-u).exp() }
}

/// u = −ln(1 − q), the inverse of [`q_of_u`], with `ln_1p` only for q < 0.0155.
#[inline(always)]
fn u_of_q(q: f64) -> f64 {
    if q < 0.015625 { -(-q).ln_1p() } else { -(1.0 - q).ln() }
}

/// The constants of one arm's Bernoulli index that depend on its mean only.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KlArm {
    /// The mean, clipped to [0, 1].
    p: f64,
    /// p ln p + (1 − p) ln(1 − p).
    neg_entropy: f64,
    /// u = −ln(1 − q) at q = p and at q = TOP.
    u_p: f64,
    u_top: f64,
    /// KL(p, TOP): for d at least this, the index is 1.
    kl_top: f64,
}

impl KlArm {
    pub(crate) fn new(mean: f64) -> Self {
        let p = if mean.is_nan() { 0.0 } else { mean.clamp(0.0, 1.0) };
        let u_p = -(-p).ln_1p();
        // (1 − p) ln(1 − p) = −(1 − p) u_p, which is 0 at p = 1 (where u_p = ∞) by 0·ln 0 = 0.
        let neg_entropy = if p > 0.0 { p * p.ln() } else { 0.0 } + if p < 1.0 { -(1.0 - p) * u_p } else { 0.0 };
        // KL(p, TOP) = −H(p) − p ln(TOP) + (1 − p) u_top, with 1 − TOP exact and
        // ln(TOP) = −(1 − TOP) to double precision.
        let u_top = -(1.0 - TOP).ln();
        let kl_top = neg_entropy + p * (1.0 - TOP) + (1.0 - p) * u_top;
        KlArm { p, neg_entropy, u_p, u_top, kl_top }
    }

    /// The index for d and its derivative dU/dd = q(1 − q)/(q − p) there (infinite at q = p,
    /// 0 at q = 1).
    ///
    /// In the variable u = −ln(1 − q), so q = −expm1(−u),
    ///
    /// h(u) = KL(p, q) − d = p ln p + (1 − p) ln(1 − p) − p ln q + (1 − p) u − d
    ///
    /// is increasing for q > p with h'(u) = (q − p)/q ∈ (0, 1], convex with
    /// h''(u) = p(1 − q)/q², and nearly linear as q → 1 (exactly linear for p = 0). Halley's
    /// method (cubic convergence) from the cheap upper bound is used, falling back to Newton and
    /// then to bisection whenever a step would leave the bracket [lo, hi] (h(lo) ≤ 0 < h(hi)) or
    /// progress slowly (the "rtsafe" safeguard). It stops once a step moves u by at most 1e-12,
    /// so both q (|dq| = e^{−u}|du|) and KL (|dKL| ≤ |du|) are within about 1e-12.
    pub(crate) fn index(&self, d: f64) -> (f64, f64) {
        let p = self.p;
        if d.is_nan() || d <= 0.0 || p >= 1.0 {
            return (p, f64::INFINITY);
        }
        if self.kl_top <= d {
            return (1.0, 0.0);
        }
        let (mut lo, mut hi) = (self.u_p, self.u_top);
        let mut u = u_of_q(kl_index_bound(p, d));
        if !(u > lo && u < hi) {
            u = hi;
        }
        // No progress test on the first step: from the right of the root, Newton on the convex
        // h cannot overshoot.
        let mut step_old = f64::INFINITY;
        let mut q = q_of_u(u);
        for _ in 0..100 {
            // ln q is skipped for p = 0 (0·ln 0 = 0).
            let p_ln_q = if p > 0.0 { p * q.ln() } else { 0.0 };
            let h = self.neg_entropy - p_ln_q + (1.0 - p) * u - d;
            if h > 0.0 {
                hi = u;
            } else if h < 0.0 {
                lo = u;
            } else {
                break;
            }
            let inv_q = 1.0 / q;
            let h1 = (q - p) * inv_q;
            if h.abs() <= SOLVE_TOL * h1 {
                // The Newton step, a sharp estimate of the distance to the root, is below the
                // tolerance (and may be below one ulp of u, where no step could be taken).
                break;
            }
            let h2 = p * (1.0 - q) * inv_q * inv_q;
            let halley = u - 2.0 * h * h1 / (2.0 * h1 * h1 - h * h2);
            let newton = u - h / h1;
            let inside = |x: f64| x > lo && x < hi;
            let fast = (2.0 * h).abs() <= (step_old * h1).abs();
            let (next, converged) = if inside(halley) && fast {
                // Halley's error after a step s is ≈ |h''²/(4h'²) − h'''/(6h')|·s³ (with
                // h''' = −p(1 − q)(2 − q)/q³). When that is below 1e-15 and s is small against
                // the scales on which the derivatives vary (h'/h'' and h''/h''' = q/(2 − q)), the
                // estimate holds and the step lands on the root: no check is needed.
                let s = (halley - u).abs();
                let r2 = h2 / h1;
                let r3 = r2 * (2.0 - q) * inv_q;
                let predicted = s * s * s * (0.25 * r2 * r2 + r3 / 6.0);
                (halley, predicted <= 1e-15 && s * r2.max(2.0 * inv_q) <= 1e-3)
            } else if inside(newton) && fast {
                (newton, false)
            } else {
                (0.5 * (lo + hi), false)
            };
            step_old = (next - u).abs();
            u = next;
            q = q_of_u(u);
            if converged || step_old <= SOLVE_TOL || hi - lo <= SOLVE_TOL {
                break;
            }
        }
        let q = q.clamp(p, 1.0);
        (q, q * (1.0 - q) / (q - p))
    }
}

pub struct KlUcb {
    bernoulli: bool,
    c: f64,
    counts: Vec<u64>,
    means: Vec<f64>,
    /// 1 / n_a (0 while unpulled).
    inv_n: Vec<f64>,
    /// 2σ_a² for the Gaussian family.
    two_var: Vec<f64>,
    /// Bernoulli: per-arm constants, refreshed on update.
    arms: Vec<KlArm>,
    /// Bernoulli: the last exact solve of each arm since its last pull, as (d₀, U(d₀), U'(d₀));
    /// `None` after a pull.
    solved: Vec<Option<(f64, f64, f64)>>,
    /// Scratch: per-arm upper bounds on the Bernoulli index.
    bounds: Vec<f64>,
    t: u64,
}

impl KlUcb {
    pub fn new(info: &BanditInfo, bernoulli: bool, c: f64) -> Self {
        let k = info.arms;
        KlUcb {
            bernoulli,
            c,
            counts: vec![0; k],
            means: vec![0.0; k],
            inv_n: vec![0.0; k],
            two_var: (0..k).map(|a| 2.0 * info.sigma(a) * info.sigma(a)).collect(),
            arms: vec![KlArm::new(0.0); k],
            solved: vec![None; k],
            bounds: vec![0.0; k],
            t: 0,
        }
    }

    /// The right-hand side ln t + c ln ln t for the next step (ln ln t only when t > e).
    pub fn exploration(&self) -> f64 {
        let lt = (self.t.max(1) as f64).ln();
        if lt > 1.0 { lt + self.c * lt.ln() } else { lt }
    }

    /// The index U_a for the next step (infinite when unpulled).
    pub fn index(&self, arm: usize) -> f64 {
        if self.counts[arm] == 0 {
            return f64::INFINITY;
        }
        let d = self.exploration() * self.inv_n[arm];
        if self.bernoulli { self.arms[arm].index(d).0 } else { self.means[arm] + (self.two_var[arm] * d).sqrt() }
    }

    /// Empirical means of every arm (unclipped).
    pub fn means(&self) -> &[f64] {
        &self.means
    }
}

impl Policy for KlUcb {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.means.len();
        if (self.t as usize) < k {
            return self.t as usize;
        }
        let bound = self.exploration();
        let (means, inv_n) = (&self.means[..k], &self.inv_n[..k]);
        if !self.bernoulli {
            let two_var = &self.two_var[..k];
            return rng::argmax_by(rng, k, |i| means[i] + (two_var[i] * bound * inv_n[i]).sqrt());
        }
        let (arms, solved, bounds) = (&self.arms[..k], &mut self.solved[..k], &mut self.bounds[..k]);
        let mut seed = 0;
        for i in 0..k {
            let d = bound * inv_n[i];
            // Either bound is valid alone; the tangent is the tighter one in practice.
            let ub = match solved[i] {
                Some((d0, u0, slope)) => u0 + (d - d0) * slope,
                None => kl_index_bound(arms[i].p, d),
            };
            bounds[i] = ub;
            if ub > bounds[seed] {
                seed = i;
            }
        }
        let mut solve = |i: usize| {
            let d = bound * inv_n[i];
            let (u, slope) = arms[i].index(d);
            // The slope is infinite (or 0/0) when U = μ̄; such an arm keeps the cheap bound.
            solved[i] = if slope.is_finite() { Some((d, u, slope)) } else { None };
            u
        };
        // Exact indices for the seed and every arm whose bound reaches the best exact index so
        // far; a pruned arm keeps its bound, which is below that exact index and hence below the
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
        let n = self.counts[arm] + 1;
        self.counts[arm] = n;
        self.means[arm] += (reward - self.means[arm]) / n as f64;
        self.inv_n[arm] = 1.0 / n as f64;
        if self.bernoulli {
            self.arms[arm] = KlArm::new(self.means[arm]);
            self.solved[arm] = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{BernoulliEnv, Environment, RewardModel};
    use crate::policy::testing::optimal_share;
    use crate::rng::Role;

    #[test]
    fn kl_bernoulli_matches_closed_forms() {
        // KL(1/2, 1/4) = ½ln2 + ½ln(2/3) = ½ ln(4/3).
        assert!((kl_bernoulli(0.5, 0.25) - 0.5 * (4.0f64 / 3.0).ln()).abs() < 1e-15);
        // KL(0, q) = −ln(1 − q) and KL(1, q) = −ln q exactly (0·ln 0 = 0).
        assert!((kl_bernoulli(0.0, 0.3) + 0.7f64.ln()).abs() < 1e-15);
        assert!((kl_bernoulli(1.0, 0.3) + 0.3f64.ln()).abs() < 1e-15);
        assert_eq!(kl_bernoulli(0.3, 0.3), 0.0);
        assert_eq!(kl_bernoulli(0.0, 0.0), kl_bernoulli(0.0, 1e-15));
        assert!(kl_bernoulli(0.0, 0.0) < 1e-14);
        // Boundaries are finite: KL(1/2, 0) = ½ ln(½/1e-15) + ½ ln(½/(1 − 1e-15)).
        let edge = kl_bernoulli(0.5, 0.0);
        assert!(edge.is_finite() && (edge - (0.5 * (0.5f64 / 1e-15).ln() + 0.5 * 0.5f64.ln())).abs() < 1e-12);
        assert!(kl_bernoulli(0.5, 1.0).is_finite());
        for i in 0..=20 {
            for j in 0..=20 {
                let v = kl_bernoulli(i as f64 / 20.0, j as f64 / 20.0);
                assert!(v >= 0.0 && v.is_finite(), "{i} {j}");
            }
        }
    }

    #[test]
    fn the_cheap_bound_is_an_upper_bound_on_the_index() {
        // Checked on a grid, and it must be tight enough to be useful near p = 0 and 1/2.
        for i in 0..=100 {
            let p = i as f64 / 100.0;
            for &d in &[1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, 30.0] {
                let q = kl_ucb_bernoulli(p, d);
                assert!(kl_index_bound(p, d) >= q - 1e-12, "p={p} d={d}");
            }
        }
        // p = 0, d = 0.01: index 1 − e^{−0.01} = 0.00995; Pinsker alone gives 0.0707.
        assert!(kl_index_bound(0.0, 0.01) < 0.021);
    }

    #[test]
    fn index_solves_the_kl_equation_and_is_monotone() {
        let ps = [0.0, 1e-9, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999_999];
        let ns = [1.0, 2.0, 10.0, 100.0, 1e4, 1e6];
        let rhs = [0.1, 1.0, 5.0, 12.0];
        for &p in &ps {
            for &n in &ns {
                let mut prev = p;
                for &b in &rhs {
                    let q = kl_ucb_bernoulli(p, b / n);
                    assert!(q.is_finite() && q >= p && q <= 1.0, "p={p} n={n} b={b}: {q}");
                    assert!(q >= prev, "not monotone in the bound: p={p} n={n} b={b}");
                    prev = q;
                    if q < 1.0 {
                        // Storing q rounds it by up to 2⁻⁵³ ≈ 1.1e-16, which moves n·KL by
                        // n·KL'(q)·1.1e-16 with KL'(q) = (q − p)/(q(1 − q)); that is negligible
                        // unless q is within ~1e-8 of 1, where the bound is ill-conditioned.
                        let lhs = n * kl_bernoulli(p, q);
                        let tol = 1e-8 + n * (q - p) / (q * (1.0 - q)) * 2e-16;
                        assert!((lhs - b).abs() < tol, "p={p} n={n} b={b}: n·KL = {lhs}");
                    } else {
                        // q = 1 only when the boundary already satisfies the constraint.
                        assert!(n * kl_bernoulli(p, 1.0) <= b + 1e-8, "p={p} n={n} b={b}");
                    }
                }
            }
        }
        // Closed form for p = 0: KL(0, q) = −ln(1 − q) = d ⇒ q = 1 − e^{−d}.
        assert!((kl_ucb_bernoulli(0.0, 0.2) - (1.0 - (-0.2f64).exp())).abs() < 1e-12);
        // Monotone in p and decreasing in n.
        assert!(kl_ucb_bernoulli(0.4, 0.1) > kl_ucb_bernoulli(0.3, 0.1));
        assert!(kl_ucb_bernoulli(0.3, 1.0 / 20.0) < kl_ucb_bernoulli(0.3, 1.0 / 10.0));
        // Degenerate inputs.
        assert_eq!(kl_ucb_bernoulli(0.3, 0.0), 0.3);
        assert_eq!(kl_ucb_bernoulli(1.0, 5.0), 1.0);
        assert_eq!(kl_ucb_bernoulli(1.7, 5.0), 1.0);
        assert_eq!(kl_ucb_bernoulli(-0.2, 0.0), 0.0);
        assert_eq!(kl_ucb_bernoulli(0.5, f64::NAN), 0.5);
        assert_eq!(kl_ucb_bernoulli(0.5, f64::INFINITY), 1.0);
    }

    #[test]
    fn tangent_line_bounds_the_index_from_above() {
        // U(d) is concave in d, so the tangent at d0 is above U everywhere: the cache bound.
        for &p in &[0.0, 0.05, 0.3, 0.5, 0.8, 0.97] {
            for &d0 in &[1e-4, 1e-3, 0.02, 0.3, 2.0] {
                let (u0, slope) = KlArm::new(p).index(d0);
                assert!(slope >= 0.0, "p={p} d0={d0}");
                for &r in &[0.5, 0.9, 0.999, 1.001, 1.1, 2.0, 10.0] {
                    let d = d0 * r;
                    let u = kl_ucb_bernoulli(p, d);
                    assert!(u <= u0 + (d - d0) * slope + 1e-12, "p={p} d0={d0} d={d}");
                }
                // The gap is second order in d − d0: for a 0.1 % larger d it is below 1e-5.
                let d = d0 * 1.001;
                let gap = u0 + (d - d0) * slope - kl_ucb_bernoulli(p, d);
                assert!(gap < 1e-5, "p={p} d0={d0}: {gap}");
            }
        }
    }

    #[test]
    fn policy_index_matches_the_definition() {
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 100, reward_model: &m };
        let mut p = KlUcb::new(&info, true, 3.0);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        // Arm 0: 5 pulls, mean 0.6; arm 1: 3 pulls, mean 1/3. t = 8 > e, so the bound is
        // ln 8 + 3 ln ln 8 = 2.0794 + 3·0.7321 = 4.2758.
        for (a, r) in [(0, 1.0), (1, 1.0), (0, 1.0), (1, 0.0), (0, 0.0), (1, 0.0), (0, 1.0), (0, 0.0)] {
            p.update(a, r, &mut rng);
        }
        let b = 8f64.ln() + 3.0 * 8f64.ln().ln();
        assert!((p.exploration() - b).abs() < 1e-12);
        let (u0, u1) = (p.index(0), p.index(1));
        assert!((5.0 * kl_bernoulli(0.6, u0) - b).abs() < 1e-9);
        assert!((3.0 * kl_bernoulli(1.0 / 3.0, u1) - b).abs() < 1e-9);
        let expect = if u0 > u1 { 0 } else { 1 };
        assert_eq!(p.select(&mut rng), expect);
        // For t ≤ e the ln ln t term is dropped: at t = 2 the bound is ln 2.
        let mut p2 = KlUcb::new(&info, true, 3.0);
        p2.update(0, 1.0, &mut rng);
        p2.update(1, 0.0, &mut rng);
        assert!((p2.exploration() - 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn gaussian_index_is_the_closed_form() {
        let m = RewardModel::Gaussian { sigmas: vec![2.0, 0.5] };
        let info = BanditInfo { arms: 2, horizon: 100, reward_model: &m };
        let mut p = KlUcb::new(&info, false, 0.0);
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for (a, r) in [(0, 1.5), (1, 3.0), (0, -0.5), (1, 2.0)] {
            p.update(a, r, &mut rng);
        }
        // t = 4, c = 0: bound ln 4. Arm 0: mean 0.5, n 2, σ 2; arm 1: mean 2.5, n 2, σ 0.5.
        let u0 = 0.5 + (2.0 * 4.0 * 4f64.ln() / 2.0).sqrt();
        let u1 = 2.5 + (2.0 * 0.25 * 4f64.ln() / 2.0).sqrt();
        assert!((p.index(0) - u0).abs() < 1e-12 && (p.index(1) - u1).abs() < 1e-12);
        assert_eq!(p.select(&mut rng), if u0 > u1 { 0 } else { 1 });
    }

    #[test]
    fn pruned_selection_always_picks_a_maximal_arm() {
        // The pruned argmax must choose an arm whose exact index is the maximum, at every step
        // of a run with close arms (so that pruning and exact ties both occur).
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 6, horizon: 2000, reward_model: &m };
        let means = [0.1, 0.5, 0.52, 0.3, 0.5, 0.45];
        let mut p = KlUcb::new(&info, true, 0.0);
        let mut env = BernoulliEnv { means: &means };
        let mut r_rng = rng::stream(9, Role::Reward, &["klucb-prune"], 0);
        let mut p_rng = rng::stream(9, Role::Policy, &["klucb-prune"], 0);
        for _ in 0..2000 {
            let best = (0..6).map(|a| p.index(a)).fold(f64::NEG_INFINITY, f64::max);
            let a = p.select(&mut p_rng);
            assert_eq!(p.index(a), best, "t = {}", p.t);
            let r = env.pull(a, &mut r_rng);
            p.update(a, r, &mut p_rng);
        }
    }

    #[test]
    fn exact_ties_are_broken_uniformly_despite_pruning() {
        // Arms 1 and 3 have identical statistics (mean 1/2 over 20 pulls, hence bit-identical
        // indices ≈ 0.8) and beat arms 0 and 2 (mean 0, bound 0.33), which get pruned: each of the two should win ≈ 1/2 of 2000 selections
        // (binomial sd ≈ 22; allow 5 sd).
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 4, horizon: 1000, reward_model: &m };
        let mut p = KlUcb::new(&info, true, 0.0);
        let mut rng = rng::stream(4, Role::Policy, &["klucb-ties"], 0);
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
        // Means [0.3, 0.7], T = 5000. KL-UCB pulls arm 0 about ln T / KL(0.3, 0.7) times:
        // KL = 0.4·ln(7/3) = 0.339 and ln 5000 = 8.5, so ≈ 25 pulls plus lower-order terms. An
        // average optimal share above 0.95 (at most 250 pulls of arm 0) leaves a wide margin.
        let m = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 2, horizon: 5000, reward_model: &m };
        let share = optimal_share(&[0.3, 0.7], 5000, 50, (41, "klucb-2arm"), || KlUcb::new(&info, true, 0.0));
        assert!(share > 0.95, "{share}");
    }
}
