//! The contextual step contract: before every decision the environment shows a context, and it
//! knows the expected reward of every arm in that context, so regret stays exact.
//!
//! A [`Context`] carries features shared by every arm (a user, a query) and, optionally, one
//! feature vector per arm (an article, a movie). Environments fill it in place each step, so the
//! step loop allocates nothing.
//!
//! Common random numbers: a step's draws (the context, then one noise value) come from the
//! environment's reward stream in a fixed pattern that does not depend on the arm chosen, so
//! every policy on the same environment and seed index sees the same contexts and the same noise.

use crate::rng::Stream;

/// What the decision-maker sees before choosing an arm.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    /// Features shared by every arm, length [`Context::dim`].
    pub shared: Vec<f64>,
    /// Per-arm features, arms × `arm_dim`, row-major; empty when `arm_dim` is 0.
    pub per_arm: Vec<f64>,
    /// Length of each arm's feature vector (0 when arms have none).
    pub arm_dim: usize,
    /// For data-backed environments, the index of the user this context describes.
    pub user: Option<usize>,
}

impl Context {
    /// A zeroed context of the given shape.
    pub fn zeros(arms: usize, dim: usize, arm_dim: usize) -> Self {
        Context { shared: vec![0.0; dim], per_arm: vec![0.0; arms * arm_dim], arm_dim, user: None }
    }

    /// Length of the shared feature vector.
    pub fn dim(&self) -> usize {
        self.shared.len()
    }

    /// The features of `arm` (empty when arms have none).
    #[inline]
    pub fn arm(&self, arm: usize) -> &[f64] {
        &self.per_arm[arm * self.arm_dim..(arm + 1) * self.arm_dim]
    }

    /// The feature vector a per-arm (disjoint) model of `arm` regresses on: the shared features,
    /// followed by the arm's own when it has any. Without per-arm features this is `shared`
    /// itself and `scratch` is untouched.
    #[inline]
    pub fn joint<'a>(&'a self, arm: usize, scratch: &'a mut Vec<f64>) -> &'a [f64] {
        if self.arm_dim == 0 {
            return &self.shared;
        }
        scratch.clear();
        scratch.extend_from_slice(&self.shared);
        scratch.extend_from_slice(self.arm(arm));
        scratch
    }
}

/// The shape of an environment's contexts, told to a policy when a run starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextShape {
    pub arms: usize,
    /// Shared feature dimension.
    pub dim: usize,
    /// Per-arm feature dimension (0 when arms have none).
    pub arm_dim: usize,
}

impl ContextShape {
    /// Dimension of the joint vector [`Context::joint`] returns.
    pub fn joint_dim(&self) -> usize {
        self.dim + self.arm_dim
    }
}

/// The step contract of a contextual environment.
pub trait ContextualEnvironment {
    /// Draws the next context into `ctx` and writes every arm's expected reward in it to `means`.
    fn observe(&mut self, ctx: &mut Context, means: &mut [f64], rng: &mut Stream);
    /// The realised reward of `arm` in the context last observed (whose expected rewards are
    /// `means`). Draws the same random numbers whatever the arm.
    fn reward(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64;
}
