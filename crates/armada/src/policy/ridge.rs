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
//! z is the vector [`RidgeArms::score`] already computed to get the confidence width xᵀA⁻¹x,
//! so a LinUCB step pays for it once. The outer product is exactly symmetric in floating point,
//! so A⁻¹ stays symmetric to the bit. Rounding still accumulates, so every
//! [`REFRESH_EVERY`] updates of an arm its inverse and θ̂ are recomputed from A and b by a
//! Cholesky factorisation (numerical hygiene; between refreshes the drift is far below the
//! statistical error).
//!
//! The matrix–vector product is written as a sum of rows, y = Σ_j x_j A⁻¹[j, ·] (valid because
//! A⁻¹ is symmetric): every inner loop is an element-wise multiply-add, which the compiler
//! vectorises, and the summation order is fixed, so results are identical on every machine.

use nalgebra::DMatrix;

/// Updates of one arm between two full refactorisations of its inverse.
pub const REFRESH_EVERY: u32 = 512;

/// Per-arm ridge regression with O(d²) updates.
#[derive(Clone, Debug)]
pub struct RidgeArms {
    dim: usize,
    lambda: f64,
    /// A_a, arms × d × d.
    gram: Vec<f64>,
    /// A_a⁻¹, arms × d × d.
    inverse: Vec<f64>,
    /// b_a, arms × d.
    target: Vec<f64>,
    /// θ̂_a, arms × d.
    theta: Vec<f64>,
    /// A_a⁻¹ x for the x last scored on arm a, arms × d.
    solved: Vec<f64>,
    /// The x last scored on arm a (the cache key), arms × d.
    scored_x: Vec<f64>,
    /// Whether `solved` is valid for `scored_x` (cleared when the arm is updated).
    fresh: Vec<bool>,
    since_refresh: Vec<u32>,
    /// Observations per arm.
    counts: Vec<u64>,
    /// d × d workspaces for [`RidgeArms::refresh`].
    factor_work: DMatrix<f64>,
    inverse_work: DMatrix<f64>,
}

impl RidgeArms {
    /// `arms` models of dimension `dim` with ridge penalty `lambda` > 0 (A = λI, b = 0).
    pub fn new(arms: usize, dim: usize, lambda: f64) -> Self {
        let mut eye = vec![0.0; dim * dim];
        for i in 0..dim {
            eye[i * dim + i] = 1.0;
        }
        let gram: Vec<f64> = (0..arms).flat_map(|_| eye.iter().map(|v| v * lambda)).collect();
        let inverse: Vec<f64> = (0..arms).flat_map(|_| eye.iter().map(|v| v / lambda)).collect();
        RidgeArms {
            dim,
            lambda,
            gram,
            inverse,
            target: vec![0.0; arms * dim],
            theta: vec![0.0; arms * dim],
            solved: vec![0.0; arms * dim],
            scored_x: vec![0.0; arms * dim],
            fresh: vec![false; arms],
            since_refresh: vec![0; arms],
            counts: vec![0; arms],
            factor_work: DMatrix::zeros(dim, dim),
            inverse_work: DMatrix::zeros(dim, dim),
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

    /// A⁻¹ of `arm`, row-major.
    pub fn inverse(&self, arm: usize) -> &[f64] {
        let dd = self.dim * self.dim;
        &self.inverse[arm * dd..(arm + 1) * dd]
    }

    /// A⁻¹x for the x last passed to [`score`](Self::score) on `arm`.
    pub fn solved(&self, arm: usize) -> &[f64] {
        &self.solved[arm * self.dim..(arm + 1) * self.dim]
    }

    /// The point prediction θ̂ᵀx (O(d)).
    #[inline]
    pub fn predict(&self, arm: usize, x: &[f64]) -> f64 {
        dot(self.theta(arm), x)
    }

    /// The prediction θ̂ᵀx and the squared confidence width xᵀA⁻¹x (O(d²)). Remembers A⁻¹x, so
    /// an [`update`](Self::update) of this arm with the same x does not recompute it.
    #[inline]
    pub fn score(&mut self, arm: usize, x: &[f64]) -> (f64, f64) {
        let d = self.dim;
        debug_assert_eq!(x.len(), d);
        let dd = d * d;
        let z = &mut self.solved[arm * d..(arm + 1) * d];
        sym_matvec(&self.inverse[arm * dd..(arm + 1) * dd], x, z);
        let quad = dot(x, z);
        self.scored_x[arm * d..(arm + 1) * d].copy_from_slice(x);
        self.fresh[arm] = true;
        (dot(&self.theta[arm * d..(arm + 1) * d], x), quad)
    }

    /// Adds the observation (x, r) to `arm`'s model in O(d²).
    pub fn update(&mut self, arm: usize, x: &[f64], reward: f64) {
        let d = self.dim;
        debug_assert_eq!(x.len(), d);
        let dd = d * d;
        let rows = arm * d..(arm + 1) * d;
        let block = arm * dd..(arm + 1) * dd;
        if !(self.fresh[arm] && self.scored_x[rows.clone()] == *x) {
            sym_matvec(&self.inverse[block.clone()], x, &mut self.solved[rows.clone()]);
        }
        self.fresh[arm] = false;
        let z = &self.solved[rows.clone()];
        let denom = 1.0 + dot(x, z);
        let theta = &mut self.theta[rows.clone()];
        let step = (reward - dot(theta, x)) / denom;
        for (t, &zi) in theta.iter_mut().zip(z) {
            *t += step * zi;
        }
        let inverse = &mut self.inverse[block.clone()];
        let gram = &mut self.gram[block];
        let shrink = 1.0 / denom;
        for i in 0..d {
            let (zi, xi) = (z[i], x[i]);
            let inv_row = &mut inverse[i * d..(i + 1) * d];
            // (z_i z_j) · s is the same float as (z_j z_i) · s: the inverse stays symmetric.
            for (v, &zj) in inv_row.iter_mut().zip(z) {
                *v -= (zi * zj) * shrink;
            }
            let gram_row = &mut gram[i * d..(i + 1) * d];
            for (v, &xj) in gram_row.iter_mut().zip(x) {
                *v += xi * xj;
            }
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
        let dd = d * d;
        self.since_refresh[arm] = 0;
        self.fresh[arm] = false;
        let mut factor = std::mem::replace(&mut self.factor_work, DMatrix::zeros(0, 0));
        factor.as_mut_slice().copy_from_slice(&self.gram[arm * dd..(arm + 1) * dd]);
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
        let out = &mut self.inverse[arm * dd..(arm + 1) * dd];
        for i in 0..d {
            for j in 0..d {
                // Average with the transpose so the stored inverse is exactly symmetric.
                out[i * d + j] = 0.5 * (inv[(i, j)] + inv[(j, i)]);
            }
        }
        let rows = arm * d..(arm + 1) * d;
        sym_matvec(out, &self.target[rows.clone()], &mut self.theta[rows]);
    }
}

/// y = M x for a symmetric row-major d×d matrix M, as the sum of rows Σ_j x_j M[j, ·].
#[inline]
pub(crate) fn sym_matvec(m: &[f64], x: &[f64], y: &mut [f64]) {
    let d = x.len();
    y.fill(0.0);
    if d == 0 {
        return;
    }
    for (row, &xj) in m.chunks_exact(d).zip(x) {
        for (yi, &mji) in y.iter_mut().zip(row) {
            *yi += xj * mji;
        }
    }
}

/// A dot product with four interleaved partial sums in a fixed order (vectorisable, and the
/// same result on every machine).
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
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
            if t % 3 == 0 {
                model.score(1, &x); // sometimes through the cache, sometimes not
            }
            model.update(1, &x, r);
            xs.push(x);
            rs.push(r);
            if t == 10 || t == n - 1 {
                let (theta, inv) = direct(&xs, &rs, 0.7);
                for i in 0..d {
                    assert!((model.theta(1)[i] - theta[i]).abs() < 1e-9, "t={t} θ[{i}]");
                    for j in 0..d {
                        assert!((model.inverse(1)[i * d + j] - inv[(i, j)]).abs() < 1e-12);
                        assert_eq!(model.inverse(1)[i * d + j], model.inverse(1)[j * d + i]);
                    }
                }
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

    #[test]
    fn dot_sums_every_term() {
        for n in 0..11 {
            let a: Vec<f64> = (0..n).map(|i| i as f64 + 1.0).collect();
            let want: f64 = a.iter().map(|v| v * v).sum();
            assert_eq!(dot(&a, &a), want, "n={n}");
        }
    }
}
