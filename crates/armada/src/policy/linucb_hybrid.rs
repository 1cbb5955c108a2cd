//! LinUCB with hybrid linear models (Li, Chu, Langford, Schapire 2010, Alg. 2).
//!
//! The expected reward of arm a is modelled as θ_aᵀx + βᵀz_a: x is the shared context with one
//! θ_a per arm, z_a the arm's own features with one β shared by all arms (what lets an arm
//! learn from the others' plays). With A_a, B_a, b_a per arm and A₀, b₀ for β:
//!
//! ```text
//! β̂  = A₀⁻¹ b₀,      θ̂_a = A_a⁻¹ (b_a − B_a β̂)
//! s_a = xᵀA_a⁻¹x + (z_a − u)ᵀ A₀⁻¹ (z_a − u),   u = B_aᵀ A_a⁻¹ x
//! p_a = z_aᵀβ̂ + xᵀθ̂_a + α √s_a
//! ```
//!
//! The paper's four-term width is the expansion of that quadratic form. A_a⁻¹ is kept by
//! Sherman–Morrison ([`RidgeArms`], whose θ is A_a⁻¹b_a); A₀ (m × m, m = arm feature dimension)
//! changes by a rank-(d+1) term each step and is refactorised by Cholesky after every update,
//! and all products with A₀⁻¹ are triangular solves. With m = 0 this is disjoint LinUCB.

use super::contextual::{ContextInfo, ContextualPolicy};
use super::ridge::RidgeArms;
use crate::env::contextual::Context;
use crate::rng::{self, Stream};
use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

pub struct LinUcbHybrid {
    alpha: f64,
    /// A_a, b_a per arm (d-dimensional).
    ridge: RidgeArms,
    /// B_a per arm, d × m.
    cross: Vec<DMatrix<f64>>,
    /// A₀ (m × m) and b₀.
    shared_gram: DMatrix<f64>,
    shared_target: DVector<f64>,
    shared_factor: Option<Cholesky<f64, Dyn>>,
    beta: DVector<f64>,
}

impl LinUcbHybrid {
    pub fn new(info: &ContextInfo, alpha: f64, lambda: f64) -> Self {
        let (k, d, m) = (info.shape.arms, info.shape.dim, info.shape.arm_dim);
        let shared_gram = DMatrix::identity(m, m) * lambda;
        let shared_factor = (m > 0).then(|| shared_gram.clone().cholesky()).flatten();
        LinUcbHybrid {
            alpha,
            ridge: RidgeArms::new(k, d, lambda),
            cross: vec![DMatrix::zeros(d, m); k],
            shared_gram,
            shared_target: DVector::zeros(m),
            shared_factor,
            beta: DVector::zeros(m),
        }
    }

    /// The current estimate β̂ of the shared coefficients.
    pub fn beta(&self) -> &[f64] {
        self.beta.as_slice()
    }

    /// B_aᵀ A_a⁻¹ B_a and B_aᵀ A_a⁻¹ b_a for arm a.
    fn projections(&self, arm: usize) -> (DMatrix<f64>, DVector<f64>) {
        let d = self.ridge.dim();
        let mut full = vec![0.0; d * d];
        self.ridge.inverse_into(arm, &mut full);
        let inv = DMatrix::from_row_slice(d, d, &full);
        let b = &self.cross[arm];
        let gram = b.transpose() * (&inv * b);
        let target = b.transpose() * DVector::from_column_slice(self.ridge.theta(arm));
        (gram, target)
    }
}

impl ContextualPolicy for LinUcbHybrid {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        let x = &ctx.shared;
        let m = ctx.arm_dim;
        let mut best = (0, f64::NEG_INFINITY, 0usize);
        for a in 0..self.ridge.arms() {
            // xᵀA_a⁻¹b_a and xᵀA_a⁻¹x; then u = B_aᵀ A_a⁻¹ x.
            let (fit, quad) = self.ridge.score(a, x);
            let mut w = DVector::zeros(x.len());
            self.ridge.solve(a, x, w.as_mut_slice());
            let u = self.cross[a].transpose() * w;
            let z = DVector::from_column_slice(ctx.arm(a));
            let mut width = quad.max(0.0);
            let mut mean = fit;
            if m > 0 {
                // xᵀθ̂_a = xᵀA_a⁻¹b_a − uᵀβ̂, plus the shared part z_aᵀβ̂.
                mean += z.dot(&self.beta) - u.dot(&self.beta);
                if let Some(f) = &self.shared_factor {
                    let diff = &z - &u;
                    width += diff.dot(&f.solve(&diff)).max(0.0);
                }
            }
            let p = mean + self.alpha * width.sqrt();
            // Ties broken uniformly at random (reservoir over equal values).
            if p > best.1 {
                best = (a, p, 1);
            } else if p == best.1 {
                best.2 += 1;
                if rng::index(rng, best.2) == 0 {
                    best.0 = a;
                }
            }
        }
        best.0
    }

    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, _rng: &mut Stream) {
        let m = ctx.arm_dim;
        if m == 0 {
            self.ridge.update(arm, &ctx.shared, reward);
            return;
        }
        let (old_gram, old_target) = self.projections(arm);
        self.shared_gram += old_gram;
        self.shared_target += old_target;
        self.ridge.update(arm, &ctx.shared, reward);
        let x = DVector::from_column_slice(&ctx.shared);
        let z = DVector::from_column_slice(ctx.arm(arm));
        self.cross[arm] += &x * z.transpose();
        let (new_gram, new_target) = self.projections(arm);
        self.shared_gram += &z * z.transpose() - new_gram;
        self.shared_target += z * reward - new_target;
        // A₀ stays positive definite (λI plus Schur complements); if rounding ever broke that,
        // the previous factor is kept until the next update.
        if let Some(f) = self.shared_gram.clone().cholesky() {
            self.beta = f.solve(&self.shared_target);
            self.shared_factor = Some(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::contextual::ContextShape;
    use crate::rng::Role;

    #[test]
    fn recovers_the_shared_coefficients() {
        // Rewards θ_aᵀx + βᵀz_a with small noise: β̂ must approach β.
        let (k, d, m) = (5, 3, 2);
        let info = ContextInfo { shape: ContextShape { arms: k, dim: d, arm_dim: m }, horizon: 3000 };
        let mut policy = LinUcbHybrid::new(&info, 0.5, 1.0);
        let mut rng = rng::stream(9, Role::Policy, &["hybrid"], 0);
        let theta: Vec<f64> = (0..k * d).map(|_| rng::normal(&mut rng)).collect();
        let beta = [0.8, -1.2];
        let mut ctx = Context::zeros(k, d, m);
        for _ in 0..3000 {
            ctx.shared.iter_mut().chain(ctx.per_arm.iter_mut()).for_each(|v| *v = rng::normal(&mut rng));
            let a = policy.select(&ctx, &mut rng);
            let mean: f64 = (0..d).map(|i| theta[a * d + i] * ctx.shared[i]).sum::<f64>()
                + (0..m).map(|j| beta[j] * ctx.arm(a)[j]).sum::<f64>();
            policy.update(&ctx, a, mean + 0.1 * rng::normal(&mut rng), &mut rng);
        }
        for (got, want) in policy.beta().iter().zip(beta) {
            assert!((got - want).abs() < 0.05, "β̂ = {:?}", policy.beta());
        }
    }
}
