//! Online ridge regression, one model per arm: the estimator under every linear policy.
//!
//! Arm a keeps A_a = λI + Σ x xᵀ, b_a = Σ r x, its inverse A_a⁻¹ and θ̂_a = A_a⁻¹ b_a. An update
//! costs O(d²) and never inverts a matrix: with z = A⁻¹x and q = xᵀz,
//!
//! ```text
//! A⁻¹ ← A⁻¹ − z zᵀ / (1 + q)          (Sherman–Morrison)
//! θ̂  ← θ̂ + z (r − xᵀθ̂) / (1 + q)      (recursive least squares)
//! ```
//!
//! Rounding accumulates in the downdate, so every [`REFRESH_EVERY`] updates of an arm its
//! inverse and θ̂ are recomputed from A and b by a Cholesky factorisation (numerical hygiene;
//! between refreshes the drift is far below the statistical error).
//!
//! Storage is packed: only the upper triangle of each symmetric matrix is kept, row by row
//! (d(d+1)/2 numbers), so A⁻¹ is symmetric by construction. The confidence width of LinUCB,
//! xᵀA⁻¹x, is then one contiguous dot product between the packed A⁻¹ and the packed outer
//! product x xᵀ (off-diagonal terms doubled, see [`QuadForm`]). When every arm sees the same
//! x — a shared context — the outer product is built once per step, and each arm's width costs
//! d(d+1)/2 multiply-adds in a loop the compiler vectorises, instead of a d² matrix–vector
//! product. Summation orders are fixed, so results are identical on every machine.

#[cfg(target_arch = "x86_64")]
use crate::linalg::dot_avx;
use crate::linalg::{dot, has_avx};
use nalgebra::DMatrix;

/// Updates of one arm between two full refactorisations of its inverse.
pub const REFRESH_EVERY: u32 = 512;

/// Length of the packed upper triangle of a d × d matrix.
#[inline]
pub fn packed_len(d: usize) -> usize {
    d * (d + 1) / 2
}

/// The packed outer product x xᵀ with off-diagonal entries doubled, so that xᵀMx is the plain
/// dot product of this with the packed upper triangle of a symmetric M.
#[derive(Clone, Debug, Default)]
pub struct QuadForm {
    packed: Vec<f64>,
}

impl QuadForm {
    /// A form for vectors of length `dim` (allocated once, here).
    pub fn new(dim: usize) -> Self {
        QuadForm { packed: vec![0.0; packed_len(dim)] }
    }

    /// Sets the form to x (reusing its buffer).
    #[inline]
    pub fn set(&mut self, x: &[f64]) {
        let d = x.len();
        self.packed.resize(packed_len(d), 0.0);
        let mut at = 0;
        for (i, &xi) in x.iter().enumerate() {
            let row = &mut self.packed[at..at + d - i];
            let twice = 2.0 * xi;
            row[0] = xi * xi;
            for (o, &xj) in row[1..].iter_mut().zip(&x[i + 1..]) {
                *o = twice * xj;
            }
            at += d - i;
        }
    }
}

/// Per-arm ridge regression with O(d²) updates.
#[derive(Clone, Debug)]
pub struct RidgeArms {
    dim: usize,
    lambda: f64,
    /// A_a, arms × packed upper triangle.
    gram: Vec<f64>,
    /// A_a⁻¹, arms × packed upper triangle.
    inverse: Vec<f64>,
    /// b_a, arms × d.
    target: Vec<f64>,
    /// θ̂_a, arms × d.
    theta: Vec<f64>,
    since_refresh: Vec<u32>,
    /// Observations per arm.
    counts: Vec<u64>,
    /// Scratch: A⁻¹x during an update, and the form of [`RidgeArms::score`].
    solved: Vec<f64>,
    form: QuadForm,
    /// d × d workspaces for [`RidgeArms::refresh`].
    factor_work: DMatrix<f64>,
    inverse_work: DMatrix<f64>,
    /// Whether the CPU runs the AVX kernels.
    avx: bool,
}

impl RidgeArms {
    /// `arms` models of dimension `dim` with ridge penalty `lambda` > 0 (A = λI, b = 0).
    pub fn new(arms: usize, dim: usize, lambda: f64) -> Self {
        let p = packed_len(dim);
        let mut gram = vec![0.0; arms * p];
        let mut inverse = vec![0.0; arms * p];
        for a in 0..arms {
            let mut at = a * p;
            for i in 0..dim {
                gram[at] = lambda;
                inverse[at] = 1.0 / lambda;
                at += dim - i;
            }
        }
        RidgeArms {
            dim,
            lambda,
            gram,
            inverse,
            target: vec![0.0; arms * dim],
            theta: vec![0.0; arms * dim],
            since_refresh: vec![0; arms],
            counts: vec![0; arms],
            solved: vec![0.0; dim],
            form: QuadForm::new(dim),
            factor_work: DMatrix::zeros(dim, dim),
            inverse_work: DMatrix::zeros(dim, dim),
            avx: has_avx(),
        }
    }

    pub fn arms(&self) -> usize {
        self.counts.len()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Observations of `arm` so far.
    pub fn count(&self, arm: usize) -> u64 {
        self.counts[arm]
    }

    /// θ̂ of `arm`.
    pub fn theta(&self, arm: usize) -> &[f64] {
        &self.theta[arm * self.dim..(arm + 1) * self.dim]
    }

    fn packed_inverse(&self, arm: usize) -> &[f64] {
        let p = packed_len(self.dim);
        &self.inverse[arm * p..(arm + 1) * p]
    }

    /// A⁻¹ of `arm` as a full row-major d × d matrix, written to `out`.
    pub fn inverse_into(&self, arm: usize, out: &mut [f64]) {
        unpack(self.packed_inverse(arm), self.dim, out);
    }

    /// The point prediction θ̂ᵀx (O(d)).
    #[inline]
    pub fn predict(&self, arm: usize, x: &[f64]) -> f64 {
        dot(self.theta(arm), x)
    }

    /// The squared confidence width xᵀA⁻¹x for the x whose form is `form` (O(d²/2)).
    #[inline]
    pub fn width2(&self, arm: usize, form: &QuadForm) -> f64 {
        dot(self.packed_inverse(arm), &form.packed)
    }

    /// For a context x shared by every arm (with `form` its [`QuadForm`]): each arm's prediction
    /// θ̂ᵀx into `means` and squared width xᵀA⁻¹x into `widths`. Uses AVX when the CPU has it
    /// (same bits either way, see [`crate::linalg`]).
    pub fn score_shared(&self, x: &[f64], form: &QuadForm, means: &mut [f64], widths: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` was set from a run-time check that the CPU supports AVX.
            return unsafe { self.score_shared_avx(x, form, means, widths) };
        }
        for a in 0..self.arms() {
            means[a] = dot(self.theta(a), x);
            widths[a] = dot(self.packed_inverse(a), &form.packed);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn score_shared_avx(&self, x: &[f64], form: &QuadForm, means: &mut [f64], widths: &mut [f64]) {
        for a in 0..self.arms() {
            // SAFETY: the caller checked AVX.
            unsafe {
                means[a] = dot_avx(self.theta(a), x);
                widths[a] = dot_avx(self.packed_inverse(a), &form.packed);
            }
        }
    }

    /// The prediction θ̂ᵀx and the squared width xᵀA⁻¹x for an x of this arm alone. When all
    /// arms share x, build one [`QuadForm`] and call [`width2`](Self::width2) instead.
    #[inline]
    pub fn score(&mut self, arm: usize, x: &[f64]) -> (f64, f64) {
        let mut form = std::mem::take(&mut self.form);
        form.set(x);
        let quad = self.width2(arm, &form);
        self.form = form;
        (self.predict(arm, x), quad)
    }

    /// A⁻¹x for `arm`, written to `out` (O(d²)).
    pub fn solve(&self, arm: usize, x: &[f64], out: &mut [f64]) {
        packed_matvec(self.packed_inverse(arm), x, out);
    }

    /// Adds the observation (x, r) to `arm`'s model in O(d²). Uses AVX when the CPU has it (the
    /// same bits either way: element-wise operations, and dot products in a fixed order).
    pub fn update(&mut self, arm: usize, x: &[f64], reward: f64) {
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` was set from a run-time check that the CPU supports AVX.
            unsafe { self.update_avx(arm, x, reward) };
            return;
        }
        self.update_with::<false>(arm, x, reward);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn update_avx(&mut self, arm: usize, x: &[f64], reward: f64) {
        self.update_with::<true>(arm, x, reward);
    }

    #[inline(always)]
    fn update_with<const AVX: bool>(&mut self, arm: usize, x: &[f64], reward: f64) {
        let d = self.dim;
        debug_assert_eq!(x.len(), d);
        let p = packed_len(d);
        let rows = arm * d..(arm + 1) * d;
        let block = arm * p..(arm + 1) * p;
        let z = &mut self.solved;
        packed_matvec_with::<AVX>(&self.inverse[block.clone()], x, z);
        let denom = 1.0 + dot_with::<AVX>(x, z);
        let theta = &mut self.theta[rows.clone()];
        let step = (reward - dot_with::<AVX>(theta, x)) / denom;
        for (t, &zi) in theta.iter_mut().zip(z.iter()) {
            *t += step * zi;
        }
        let shrink = 1.0 / denom;
        let (inverse, gram) = (&mut self.inverse[block.clone()], &mut self.gram[block]);
        let mut at = 0;
        for i in 0..d {
            let (zi, xi) = (z[i], x[i]);
            let len = d - i;
            for (v, &zj) in inverse[at..at + len].iter_mut().zip(&z[i..]) {
                *v -= (zi * zj) * shrink;
            }
            for (v, &xj) in gram[at..at + len].iter_mut().zip(&x[i..]) {
                *v += xi * xj;
            }
            at += len;
        }
        for (b, &xi) in self.target[rows].iter_mut().zip(x) {
            *b += reward * xi;
        }
        self.counts[arm] += 1;
        self.since_refresh[arm] += 1;
        if self.since_refresh[arm] >= REFRESH_EVERY {
            self.refresh(arm);
        }
    }

    /// Recomputes A⁻¹ and θ̂ of `arm` from A and b by a Cholesky factorisation, in preallocated
    /// workspaces (no allocation).
    pub fn refresh(&mut self, arm: usize) {
        let d = self.dim;
        let p = packed_len(d);
        self.since_refresh[arm] = 0;
        let mut factor = std::mem::replace(&mut self.factor_work, DMatrix::zeros(0, 0));
        unpack(&self.gram[arm * p..(arm + 1) * p], d, factor.as_mut_slice());
        // A = λI + Σ xxᵀ is symmetric positive definite; a failed factorisation would mean the
        // Gram matrix itself is corrupt, and the Sherman–Morrison inverse is then kept.
        let Some(chol) = factor.cholesky() else {
            self.factor_work = DMatrix::zeros(d, d);
            return;
        };
        let inv = &mut self.inverse_work;
        inv.fill_with_identity();
        chol.solve_mut(inv);
        self.factor_work = chol.unpack();
        let out = &mut self.inverse[arm * p..(arm + 1) * p];
        let mut at = 0;
        for i in 0..d {
            for j in i..d {
                // The mean of the two triangles: the factorisation's inverse is symmetric only
                // up to rounding.
                out[at] = 0.5 * (inv[(i, j)] + inv[(j, i)]);
                at += 1;
            }
        }
        let rows = arm * d..(arm + 1) * d;
        packed_matvec(&self.inverse[arm * p..(arm + 1) * p], &self.target[rows.clone()], &mut self.theta[rows]);
    }
}

/// Expands a packed upper triangle into a full row-major d × d symmetric matrix.
fn unpack(packed: &[f64], d: usize, out: &mut [f64]) {
    let mut at = 0;
    for i in 0..d {
        for j in i..d {
            out[i * d + j] = packed[at];
            out[j * d + i] = packed[at];
            at += 1;
        }
    }
}

/// y = M x for a symmetric M given by its packed upper triangle: row i contributes its dot
/// product with x[i..] to y_i and x_i times its off-diagonal part to y[i+1..].
#[inline]
pub(crate) fn packed_matvec(packed: &[f64], x: &[f64], y: &mut [f64]) {
    packed_matvec_with::<false>(packed, x, y)
}

/// [`dot`], or [`dot_avx`] inside code compiled for AVX.
#[inline(always)]
fn dot_with<const AVX: bool>(a: &[f64], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if AVX {
        // SAFETY: only instantiated with AVX = true inside functions compiled for AVX, which
        // are only called after a run-time check.
        return unsafe { dot_avx(a, b) };
    }
    dot(a, b)
}

#[inline(always)]
fn packed_matvec_with<const AVX: bool>(packed: &[f64], x: &[f64], y: &mut [f64]) {
    let d = x.len();
    y.fill(0.0);
    let mut at = 0;
    for i in 0..d {
        let row = &packed[at..at + d - i];
        y[i] += dot_with::<AVX>(row, &x[i..]);
        let xi = x[i];
        for (yj, &m) in y[i + 1..].iter_mut().zip(&row[1..]) {
            *yj += xi * m;
        }
        at += d - i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{self, Role};

    /// The ridge solution from scratch: (λI + XᵀX)⁻¹ Xᵀr, and (λI + XᵀX)⁻¹.
    fn direct(xs: &[Vec<f64>], rs: &[f64], lambda: f64) -> (Vec<f64>, DMatrix<f64>) {
        let d = xs[0].len();
        let mut a = DMatrix::<f64>::identity(d, d) * lambda;
        let mut b = nalgebra::DVector::<f64>::zeros(d);
        for (x, r) in xs.iter().zip(rs) {
            let v = nalgebra::DVector::from_column_slice(x);
            a += &v * v.transpose();
            b += v * *r;
        }
        let inv = a.try_inverse().unwrap();
        ((&inv * b).iter().copied().collect(), inv)
    }

    #[test]
    fn incremental_updates_match_the_direct_solution() {
        let (d, n) = (6, 1500); // crosses two refreshes
        let mut rng = rng::stream(5, Role::Policy, &["ridge"], 0);
        let truth: Vec<f64> = (0..d).map(|_| rng::normal(&mut rng)).collect();
        let mut model = RidgeArms::new(2, d, 0.7);
        let (mut xs, mut rs) = (Vec::new(), Vec::new());
        for t in 0..n {
            let x: Vec<f64> = (0..d).map(|_| rng::normal(&mut rng)).collect();
            let r = dot(&truth, &x) + 0.3 * rng::normal(&mut rng);
            model.update(1, &x, r);
            xs.push(x);
            rs.push(r);
            if t == 10 || t == n - 1 {
                let (theta, inv) = direct(&xs, &rs, 0.7);
                let mut full = vec![0.0; d * d];
                model.inverse_into(1, &mut full);
                for i in 0..d {
                    assert!((model.theta(1)[i] - theta[i]).abs() < 1e-9, "t={t} θ[{i}]");
                    for j in 0..d {
                        assert!((full[i * d + j] - inv[(i, j)]).abs() < 1e-12);
                    }
                }
                // The width and the solve agree with the direct inverse.
                let x = &xs[t];
                let mut form = QuadForm::default();
                form.set(x);
                let mut z = vec![0.0; d];
                model.solve(1, x, &mut z);
                let want = nalgebra::DVector::from_column_slice(x);
                let want_z = &inv * &want;
                assert!((model.width2(1, &form) - want.dot(&want_z)).abs() < 1e-12);
                assert!(z.iter().zip(want_z.iter()).all(|(a, b)| (a - b).abs() < 1e-12));
            }
        }
        assert_eq!(model.count(1), n as u64);
        assert_eq!(model.count(0), 0);
        assert!(model.theta(0).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn score_is_the_prediction_and_the_quadratic_form() {
        let mut model = RidgeArms::new(1, 3, 2.0);
        model.update(0, &[1.0, 0.0, 0.0], 4.0);
        // A = diag(3, 2, 2), b = (4, 0, 0): θ = (4/3, 0, 0).
        let (mean, quad) = model.score(0, &[1.0, 1.0, 0.0]);
        assert!((mean - 4.0 / 3.0).abs() < 1e-15);
        assert!((quad - (1.0 / 3.0 + 0.5)).abs() < 1e-15);
    }
}
