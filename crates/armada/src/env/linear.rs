//! Synthetic linear contextual bandits, the world where linear policies' theory holds exactly.
//!
//! Each step shows a shared context x ∈ R^d and, when `arm_features` m > 0, one feature vector
//! z_a ∈ R^m per arm. The expected score of arm a is
//!
//! ```text
//! s_a = θ_aᵀ x + βᵀ z_a
//! ```
//!
//! with one θ_a per arm (the disjoint part) and one β shared by all arms (the hybrid part; with
//! d = 0 this is the classic shared-parameter linear bandit). An instance draws θ_a ~ N(0, I/d)
//! and β ~ N(0, I/m), so ‖θ_a‖ ≈ 1. Contexts are N(0, I) or uniform on the unit sphere, drawn
//! fresh every step for x and for every z_a.
//!
//! Rewards: `gaussian` pays s_a + σ ξ with one ξ ~ N(0, 1) per step (expected reward s_a);
//! `logistic` pays 1 with probability σ(s_a) = 1 / (1 + e^{−s_a}) from one uniform per step
//! (expected reward σ(s_a)). Either way the expected reward of every arm is known exactly.

use super::contextual::{Context, ContextShape, ContextualEnvironment};
use crate::linalg::dot;
use crate::rng::{self, Stream};

/// How contexts are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContextDistribution {
    /// Every coordinate N(0, 1).
    Gaussian,
    /// Uniform on the unit sphere.
    Sphere,
}

impl ContextDistribution {
    pub const NAMES: &[&str] = &["gaussian", "sphere"];

    pub fn name(self) -> &'static str {
        match self {
            ContextDistribution::Gaussian => "gaussian",
            ContextDistribution::Sphere => "sphere",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "gaussian" => Some(ContextDistribution::Gaussian),
            "sphere" => Some(ContextDistribution::Sphere),
            _ => None,
        }
    }

    /// Fills `out` with one draw.
    #[inline]
    fn fill(self, out: &mut [f64], rng: &mut Stream) {
        for v in out.iter_mut() {
            *v = rng::normal(rng);
        }
        if self == ContextDistribution::Sphere {
            let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm > 0.0 {
                out.iter_mut().for_each(|v| *v /= norm);
            }
        }
    }
}

/// How a linear score becomes a reward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinearReward {
    /// Score plus N(0, σ²) noise.
    Gaussian { sigma: f64 },
    /// Bernoulli with the logistic function of the score as success probability.
    Logistic,
}

/// A synthetic linear world as written in a spec.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSpec {
    pub arms: usize,
    /// Shared context dimension d (0 for a purely shared-parameter model).
    pub features: usize,
    /// Per-arm feature dimension m (0 for the disjoint model).
    pub arm_features: usize,
    pub context: ContextDistribution,
    pub reward: LinearReward,
}

impl LinearSpec {
    /// The canonical description that seeds the environment's streams.
    pub fn identity(&self) -> String {
        let reward = match self.reward {
            LinearReward::Gaussian { sigma } => format!("gaussian,sigma={sigma}"),
            LinearReward::Logistic => "logistic".to_string(),
        };
        format!(
            "linear(arms={},features={},arm_features={},context={},reward={reward})",
            self.arms,
            self.features,
            self.arm_features,
            self.context.name()
        )
    }

    pub fn shape(&self) -> ContextShape {
        ContextShape { arms: self.arms, dim: self.features, arm_dim: self.arm_features }
    }

    /// Draws the parameters of one instance.
    pub fn draw(&self, rng: &mut Stream) -> LinearInstance {
        let scale = |n: usize| if n == 0 { 0.0 } else { 1.0 / (n as f64).sqrt() };
        let (sd_theta, sd_beta) = (scale(self.features), scale(self.arm_features));
        let theta = (0..self.arms * self.features).map(|_| sd_theta * rng::normal(rng)).collect();
        let beta = (0..self.arm_features).map(|_| sd_beta * rng::normal(rng)).collect();
        LinearInstance { spec: self.clone(), theta, beta }
    }
}

/// One drawn linear world: the true parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearInstance {
    pub spec: LinearSpec,
    /// θ, arms × features, row-major.
    pub theta: Vec<f64>,
    /// β, length arm_features.
    pub beta: Vec<f64>,
}

impl LinearInstance {
    /// The true θ of `arm`.
    pub fn theta(&self, arm: usize) -> &[f64] {
        let d = self.spec.features;
        &self.theta[arm * d..(arm + 1) * d]
    }

    /// The expected reward of `arm` in `ctx`.
    pub fn expected(&self, ctx: &Context, arm: usize) -> f64 {
        let score = dot(self.theta(arm), &ctx.shared) + dot(&self.beta, ctx.arm(arm));
        match self.spec.reward {
            LinearReward::Gaussian { .. } => score,
            LinearReward::Logistic => 1.0 / (1.0 + (-score).exp()),
        }
    }
}

impl ContextualEnvironment for &LinearInstance {
    #[inline]
    fn observe(&mut self, ctx: &mut Context, means: &mut [f64], rng: &mut Stream) {
        self.spec.context.fill(&mut ctx.shared, rng);
        let m = ctx.arm_dim;
        for a in 0..self.spec.arms {
            self.spec.context.fill(&mut ctx.per_arm[a * m..(a + 1) * m], rng);
        }
        for (a, mean) in means.iter_mut().enumerate() {
            *mean = self.expected(ctx, a);
        }
    }

    #[inline]
    fn reward(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64 {
        match self.spec.reward {
            LinearReward::Gaussian { sigma } => means[arm] + sigma * rng::normal(rng),
            LinearReward::Logistic => {
                if rng::uniform(rng) < means[arm] {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Role;

    fn spec(m: usize, reward: LinearReward, context: ContextDistribution) -> LinearSpec {
        LinearSpec { arms: 4, features: 3, arm_features: m, context, reward }
    }

    #[test]
    fn expected_rewards_match_the_parameters() {
        let s = spec(2, LinearReward::Gaussian { sigma: 0.0 }, ContextDistribution::Gaussian);
        let mut rng = rng::stream(1, Role::Instance, &["t"], 0);
        let inst = s.draw(&mut rng);
        let mut ctx = Context::zeros(4, 3, 2);
        let mut means = vec![0.0; 4];
        let mut env = &inst;
        env.observe(&mut ctx, &mut means, &mut rng);
        for a in 0..4 {
            let manual: f64 = (0..3).map(|i| inst.theta[a * 3 + i] * ctx.shared[i]).sum::<f64>()
                + (0..2).map(|j| inst.beta[j] * ctx.per_arm[a * 2 + j]).sum::<f64>();
            assert!((means[a] - manual).abs() < 1e-12);
            // σ = 0: the reward is the expected reward.
            assert_eq!(env.reward(a, &means, &mut rng), means[a]);
        }
    }

    #[test]
    fn sphere_contexts_have_unit_norm_and_logistic_rewards_are_probabilities() {
        let s = spec(0, LinearReward::Logistic, ContextDistribution::Sphere);
        let mut rng = rng::stream(2, Role::Instance, &["t"], 0);
        let inst = s.draw(&mut rng);
        let mut ctx = Context::zeros(4, 3, 0);
        let mut means = vec![0.0; 4];
        let mut env = &inst;
        let (mut paid, mut expected) = (0.0, 0.0);
        let n = 40_000;
        for _ in 0..n {
            env.observe(&mut ctx, &mut means, &mut rng);
            let norm = ctx.shared.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-12);
            assert!(means.iter().all(|p| (0.0..=1.0).contains(p)));
            paid += env.reward(1, &means, &mut rng);
            expected += means[1];
        }
        // Bernoulli sums: sd ≤ 0.5 √n = 100; allow 5 sd.
        assert!((paid - expected).abs() < 500.0, "{paid} vs {expected}");
    }

    #[test]
    fn theta_has_the_stated_scale() {
        let s = LinearSpec {
            arms: 50,
            features: 20,
            arm_features: 0,
            context: ContextDistribution::Gaussian,
            reward: LinearReward::Logistic,
        };
        let inst = s.draw(&mut rng::stream(3, Role::Instance, &["t"], 0));
        // Entries ~ N(0, 1/20): the mean of 1000 squares is 0.05 ± 0.05·√(2/1000) ≈ 0.0022.
        let ms = inst.theta.iter().map(|v| v * v).sum::<f64>() / inst.theta.len() as f64;
        assert!((ms - 0.05).abs() < 0.012, "{ms}");
    }
}
