//! Statistics behind the numbers Armada reports: means with Student-t confidence intervals, the
//! one-sided Welch test used for win-rates, log-spaced checkpoints, and the regret-shape fit.
//!
//! Everything here is deterministic and summation order is fixed, so the same inputs give the
//! same bits.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Sample mean and standard deviation (n − 1 denominator; 0 when n < 2).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    (mean, (ss / (n - 1) as f64).sqrt())
}

/// Half-width of the two-sided 95% Student-t confidence interval of a mean of `n` values with
/// sample standard deviation `std`; `None` when n < 2.
pub fn ci95_half_width(std: f64, n: usize) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let q = t_quantile_975(n - 1);
    Some(q * std / (n as f64).sqrt())
}

/// The 0.975 quantile of Student's t with `dof` degrees of freedom.
pub fn t_quantile_975(dof: usize) -> f64 {
    StudentsT::new(0.0, 1.0, dof as f64).expect("dof >= 1").inverse_cdf(0.975)
}

/// One-sided Welch t-test of H1: mean(a) > mean(b). Returns the p-value.
///
/// With zero variance in both samples the test degenerates: the p-value is 0 when mean(a) >
/// mean(b) and 1 otherwise (a difference with no noise is certain). Fewer than two values in
/// either sample gives 1 (no evidence).
pub fn welch_greater_p(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 || b.len() < 2 {
        return 1.0;
    }
    let (ma, sa) = mean_std(a);
    let (mb, sb) = mean_std(b);
    let (va, vb) = (sa * sa / a.len() as f64, sb * sb / b.len() as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        return if ma > mb { 0.0 } else { 1.0 };
    }
    let t = (ma - mb) / se2.sqrt();
    // Welch–Satterthwaite degrees of freedom.
    let dof = se2 * se2 / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, dof).expect("positive dof");
    1.0 - dist.cdf(t)
}

/// Significance level of the win-rate comparisons (EVOLvE, §5: p < 0.05).
pub const WIN_P_VALUE: f64 = 0.05;

/// Whether `a` significantly beats `b` (one-sided Welch test at p < 0.05).
pub fn beats(a: &[f64], b: &[f64]) -> bool {
    welch_greater_p(a, b) < WIN_P_VALUE
}

/// About `n` log-spaced step counts in 1..=horizon, strictly increasing, always ending at the
/// horizon (fewer when the horizon is small).
pub fn checkpoints(horizon: u64, n: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::with_capacity(n + 1);
    if horizon == 0 {
        return out;
    }
    let n = n.max(2);
    let top = (horizon as f64).ln();
    for i in 0..n {
        let t = (top * i as f64 / (n - 1) as f64).exp().round() as u64;
        let t = t.clamp(1, horizon);
        if out.last().is_none_or(|&last| t > last) {
            out.push(t);
        }
    }
    if out.last() != Some(&horizon) {
        out.push(horizon);
    }
    out
}

/// The fitted regret shape f(T) = λ1·ln(T)^α / Δmin + β·T + λ2 (EVOLvE §5.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegretFit {
    /// Exponent of the logarithmic part (`None` when λ1 = 0 leaves it undetermined).
    pub alpha: Option<f64>,
    pub beta: f64,
    pub lambda1: f64,
    pub lambda2: f64,
    /// Coefficient of determination on the fitted points.
    pub r2: f64,
    /// β·T as a share of the mean regret at the horizon: the part the fit calls linear.
    pub linear_share: f64,
    /// Sub-linear when the linear term explains under [`SUBLINEAR_SHARE`] of the final regret.
    pub sublinear: bool,
}

/// Threshold on [`RegretFit::linear_share`] below which regret is called sub-linear.
pub const SUBLINEAR_SHARE: f64 = 0.1;

/// Largest α considered by the fit.
const ALPHA_MAX: f64 = 4.0;

/// Fits f(T) = λ1·ln(T)^α/Δ + β·T + λ2 with λ1, β ≥ 0 by least squares on the points (t, y).
///
/// The model is linear in (λ1, β, λ2) for fixed α, so the fit is a one-dimensional search over
/// α (a grid of step 0.02 on [0, 4], refined by golden section) with an exact constrained
/// linear solve at each α (variable projection). The non-negativity constraints are handled
/// by solving every active set and keeping the best feasible one. This is deterministic and
/// needs no starting point. Returns `None` with fewer than four points.
pub fn fit_regret(t: &[f64], y: &[f64], delta_min: f64) -> Option<RegretFit> {
    if t.len() < 4 || t.len() != y.len() {
        return None;
    }
    let delta = if delta_min > 0.0 && delta_min.is_finite() { delta_min } else { 1.0 };
    let sse_at = |alpha: f64| solve_given_alpha(t, y, delta, alpha);
    let mut best_alpha = 0.0;
    let mut best = sse_at(0.0);
    let steps = (ALPHA_MAX / 0.02).round() as usize;
    for i in 1..=steps {
        let a = ALPHA_MAX * i as f64 / steps as f64;
        let s = sse_at(a);
        if s.0 < best.0 {
            best = s;
            best_alpha = a;
        }
    }
    // Golden-section refinement inside the neighbouring grid cells.
    let (mut lo, mut hi) = ((best_alpha - 0.02).max(0.0), (best_alpha + 0.02).min(ALPHA_MAX));
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if sse_at(a).0 <= sse_at(b).0 {
            hi = b;
        } else {
            lo = a;
        }
    }
    let mid = 0.5 * (lo + hi);
    let refined = sse_at(mid);
    if refined.0 < best.0 {
        best = refined;
        best_alpha = mid;
    }
    let (sse, [l1, beta, l2]) = best;
    let mean_y = y.iter().sum::<f64>() / y.len() as f64;
    let sst: f64 = y.iter().map(|v| (v - mean_y) * (v - mean_y)).sum();
    let r2 = if sst > 0.0 {
        1.0 - sse / sst
    } else if sse == 0.0 {
        1.0
    } else {
        0.0
    };
    let t_end = *t.last().unwrap_or(&1.0);
    let y_end = *y.last().unwrap_or(&0.0);
    let linear_share = if y_end > 0.0 { beta * t_end / y_end } else { 0.0 };
    Some(RegretFit {
        alpha: if l1 > 0.0 { Some(best_alpha) } else { None },
        beta,
        lambda1: l1,
        lambda2: l2,
        r2,
        linear_share,
        sublinear: linear_share < SUBLINEAR_SHARE,
    })
}

/// Least squares for (λ1, β, λ2) at fixed α with λ1, β ≥ 0; returns (SSE, params).
fn solve_given_alpha(t: &[f64], y: &[f64], delta: f64, alpha: f64) -> (f64, [f64; 3]) {
    let col_log: Vec<f64> = t.iter().map(|&ti| ti.max(1.0).ln().powf(alpha) / delta).collect();
    let mut best = (f64::INFINITY, [0.0; 3]);
    // Active sets: which of (λ1, β) are free; λ2 is always free.
    for (use_l1, use_b) in [(true, true), (true, false), (false, true), (false, false)] {
        let mut cols: Vec<&[f64]> = Vec::with_capacity(3);
        if use_l1 {
            cols.push(&col_log);
        }
        if use_b {
            cols.push(t);
        }
        let Some(coef) = least_squares_with_intercept(&cols, y) else { continue };
        let mut p = [0.0; 3];
        let mut i = 0;
        if use_l1 {
            p[0] = coef[i];
            i += 1;
        }
        if use_b {
            p[1] = coef[i];
            i += 1;
        }
        p[2] = coef[i];
        if p[0] < 0.0 || p[1] < 0.0 {
            continue;
        }
        let sse: f64 = t
            .iter()
            .zip(y)
            .zip(&col_log)
            .map(|((&ti, &yi), &li)| {
                let r = yi - (p[0] * li + p[1] * ti + p[2]);
                r * r
            })
            .sum();
        if sse < best.0 {
            best = (sse, p);
        }
    }
    best
}

/// Ordinary least squares of `y` on the given columns plus an intercept (last coefficient).
/// Columns are centred and scaled before solving the normal equations for conditioning.
fn least_squares_with_intercept(cols: &[&[f64]], y: &[f64]) -> Option<Vec<f64>> {
    let n = y.len() as f64;
    let m = cols.len();
    let mean_y = y.iter().sum::<f64>() / n;
    let mut means = Vec::with_capacity(m);
    let mut scales = Vec::with_capacity(m);
    for c in cols {
        let mu = c.iter().sum::<f64>() / n;
        let s = c.iter().map(|v| (v - mu).abs()).fold(0.0, f64::max);
        means.push(mu);
        scales.push(if s > 0.0 { s } else { 1.0 });
    }
    let z = |j: usize, i: usize| (cols[j][i] - means[j]) / scales[j];
    // Normal equations on centred columns (the intercept separates out).
    let mut a = vec![vec![0.0; m + 1]; m];
    for (r, row) in a.iter_mut().enumerate() {
        for (c, cell) in row.iter_mut().take(m).enumerate() {
            *cell = (0..y.len()).map(|i| z(r, i) * z(c, i)).sum();
        }
        row[m] = (0..y.len()).map(|i| z(r, i) * (y[i] - mean_y)).sum();
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..m {
        let piv = (col..m).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        let pivot_row = a[col].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut coef: Vec<f64> = (0..m).map(|j| a[j][m] / a[j][j] / scales[j]).collect();
    let intercept = mean_y - (0..m).map(|j| coef[j] * means[j]).sum::<f64>();
    coef.push(intercept);
    Some(coef)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_and_ci() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.2909944487358056).abs() < 1e-15);
        // t_{0.975, 3} = 3.182446305284263 (standard table value).
        let h = ci95_half_width(s, 4).unwrap();
        assert!((h - 3.182446305284263 * s / 2.0).abs() < 1e-9, "{h}");
        assert!(ci95_half_width(1.0, 1).is_none());
    }

    #[test]
    fn welch_matches_a_hand_computation() {
        // a: mean 5, var 2.5 (n=5) → 0.5; b: mean 3, var 5/6 (n=4) → 0.2083. se² = 0.7083,
        // t = 2/sqrt(0.7083) = 2.3764, dof = 0.50174/(0.0625 + 0.014468) = 6.519;
        // one-sided p ≈ 0.0256.
        let a = [3.0, 4.0, 5.0, 6.0, 7.0];
        let b = [2.0, 2.5, 3.5, 4.0];
        let (_, sb) = mean_std(&b);
        assert!((sb * sb - 0.8333333333333334).abs() < 1e-12);
        let p = welch_greater_p(&a, &b);
        assert!((p - 0.0256).abs() < 0.002, "{p}");
        assert!(beats(&a, &b) && !beats(&b, &a));
        assert_eq!(welch_greater_p(&[1.0, 1.0], &[0.0, 0.0]), 0.0);
        assert_eq!(welch_greater_p(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
    }

    #[test]
    fn checkpoints_are_log_spaced_and_end_at_the_horizon() {
        let c = checkpoints(1000, 50);
        assert_eq!(c[0], 1);
        assert_eq!(*c.last().unwrap(), 1000);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert!(c.len() > 30 && c.len() <= 50, "{}", c.len());
        assert_eq!(checkpoints(3, 50), vec![1, 2, 3]);
    }

    #[test]
    fn fit_recovers_a_logarithmic_curve() {
        let t: Vec<f64> = checkpoints(100_000, 50).iter().map(|&x| x as f64).collect();
        let y: Vec<f64> = t.iter().map(|&x| 3.0 * x.ln().powf(1.5) / 0.2 + 2.0).collect();
        let f = fit_regret(&t, &y, 0.2).unwrap();
        assert!((f.alpha.unwrap() - 1.5).abs() < 1e-3, "{f:?}");
        assert!((f.lambda1 - 3.0).abs() < 1e-2 && f.beta < 1e-6 && f.sublinear, "{f:?}");
        assert!(f.r2 > 0.999999);
    }

    #[test]
    fn fit_recognises_linear_regret() {
        let t: Vec<f64> = checkpoints(1000, 40).iter().map(|&x| x as f64).collect();
        let y: Vec<f64> = t.iter().map(|&x| 0.2 * x).collect();
        let f = fit_regret(&t, &y, 0.2).unwrap();
        assert!((f.beta - 0.2).abs() < 1e-6 && !f.sublinear, "{f:?}");
    }
}
