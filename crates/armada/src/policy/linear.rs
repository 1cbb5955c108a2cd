//! Linear contextual policies on per-arm ridge regression ([`RidgeArms`]): LinUCB (disjoint),
//! linear Thompson sampling, ε-greedy on ridge estimates, and SquareCB.
//!
//! Each arm regresses its rewards on the joint feature vector of [`Context::joint`] (the shared
//! context, followed by the arm's own features when it has any). They differ only in how they
//! turn the estimates into a choice:
//!
//! * **LinUCB** (Li, Chu, Langford, Schapire 2010, Alg. 1): argmax θ̂ᵀx + α √(xᵀA⁻¹x).
//! * **LinTS** (Agrawal, Goyal 2013): argmax of θ̃ᵀx with θ̃ ~ N(θ̂, v² A⁻¹). With one model per
//!   arm and one x per arm, θ̃ᵀx is exactly N(θ̂ᵀx, v² xᵀA⁻¹x), so the sampler draws that scalar
//!   (one normal per arm) instead of a d-dimensional vector: the same distribution for O(d²).
//! * **ε-greedy**: with probability ε a uniform arm, otherwise argmax θ̂ᵀx.
//! * **SquareCB** (Foster, Rakhlin 2020): inverse-gap weighting over the ridge predictions,
//!   p_a = 1 / (K + γ_t (ŷ_best − ŷ_a)) for every a other than the best, which takes the rest;
//!   γ_t = scale · t^exponent, Vowpal Wabbit's schedule (defaults 10 and 0.5).

use super::contextual::{ContextInfo, ContextualPolicy};
use super::epsilon_greedy::EpsilonSchedule;
use super::ridge::{QuadForm, RidgeArms};
use crate::env::contextual::Context;
use crate::rng::{self, Stream};

/// Disjoint LinUCB.
pub struct LinUcb {
    ridge: RidgeArms,
    alpha: f64,
    form: QuadForm,
    means: Vec<f64>,
    widths: Vec<f64>,
    scratch: Vec<f64>,
}

impl LinUcb {
    pub fn new(info: &ContextInfo, alpha: f64, lambda: f64) -> Self {
        let s = info.shape;
        LinUcb {
            ridge: RidgeArms::new(s.arms, s.joint_dim(), lambda),
            alpha,
            form: QuadForm::new(s.joint_dim()),
            means: vec![0.0; s.arms],
            widths: vec![0.0; s.arms],
            scratch: Vec::with_capacity(s.joint_dim()),
        }
    }

    /// The ridge models (for inspection in tests and guides).
    pub fn ridge(&self) -> &RidgeArms {
        &self.ridge
    }
}

impl ContextualPolicy for LinUcb {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        let (ridge, alpha) = (&mut self.ridge, self.alpha);
        if ctx.arm_dim == 0 {
            // One x for every arm: its quadratic form is built once.
            self.form.set(&ctx.shared);
            ridge.score_shared(&ctx.shared, &self.form, &mut self.means, &mut self.widths);
            let (means, widths) = (&self.means, &self.widths);
            return rng::argmax_by(rng, ridge.arms(), |a| means[a] + alpha * widths[a].max(0.0).sqrt());
        }
        let scratch = &mut self.scratch;
        rng::argmax_by(rng, ridge.arms(), |a| {
            let (mean, quad) = ridge.score(a, ctx.joint(a, scratch));
            mean + alpha * quad.max(0.0).sqrt()
        })
    }

    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, _rng: &mut Stream) {
        let x = ctx.joint(arm, &mut self.scratch);
        self.ridge.update(arm, x, reward);
    }
}

/// Linear Thompson sampling with per-arm models.
pub struct LinTs {
    ridge: RidgeArms,
    v: f64,
    form: QuadForm,
    means: Vec<f64>,
    widths: Vec<f64>,
    scratch: Vec<f64>,
}

impl LinTs {
    pub fn new(info: &ContextInfo, v: f64, lambda: f64) -> Self {
        let s = info.shape;
        LinTs {
            ridge: RidgeArms::new(s.arms, s.joint_dim(), lambda),
            v,
            form: QuadForm::new(s.joint_dim()),
            means: vec![0.0; s.arms],
            widths: vec![0.0; s.arms],
            scratch: Vec::with_capacity(s.joint_dim()),
        }
    }
}

impl ContextualPolicy for LinTs {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        let k = self.ridge.arms();
        let shared = ctx.arm_dim == 0;
        if shared {
            self.form.set(&ctx.shared);
            self.ridge.score_shared(&ctx.shared, &self.form, &mut self.means, &mut self.widths);
        }
        let mut best = (0, f64::NEG_INFINITY);
        for a in 0..k {
            let (mean, quad) = if shared {
                (self.means[a], self.widths[a])
            } else {
                self.ridge.score(a, ctx.joint(a, &mut self.scratch))
            };
            let sample = mean + self.v * quad.max(0.0).sqrt() * rng::normal(rng);
            // Continuous samples: ties have probability zero, the lowest index keeps them.
            if sample > best.1 {
                best = (a, sample);
            }
        }
        best.0
    }

    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, _rng: &mut Stream) {
        let x = ctx.joint(arm, &mut self.scratch);
        self.ridge.update(arm, x, reward);
    }
}

/// ε-greedy on per-arm ridge estimates.
pub struct LinEpsilonGreedy {
    ridge: RidgeArms,
    schedule: EpsilonSchedule,
    t: u64,
    scratch: Vec<f64>,
}

impl LinEpsilonGreedy {
    pub fn new(info: &ContextInfo, schedule: EpsilonSchedule, lambda: f64) -> Self {
        let s = info.shape;
        LinEpsilonGreedy {
            ridge: RidgeArms::new(s.arms, s.joint_dim(), lambda),
            schedule,
            t: 0,
            scratch: Vec::with_capacity(s.joint_dim()),
        }
    }

    fn epsilon(&self) -> f64 {
        self.schedule.at(self.t, self.ridge.arms())
    }
}

impl ContextualPolicy for LinEpsilonGreedy {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        let k = self.ridge.arms();
        let eps = self.epsilon();
        if eps > 0.0 && rng::uniform(rng) < eps {
            return rng::index(rng, k);
        }
        let (ridge, scratch) = (&self.ridge, &mut self.scratch);
        rng::argmax_by(rng, k, |a| ridge.predict(a, ctx.joint(a, scratch)))
    }

    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        let x = ctx.joint(arm, &mut self.scratch);
        self.ridge.update(arm, x, reward);
    }
}

/// SquareCB: inverse-gap weighting on ridge predictions.
pub struct SquareCb {
    ridge: RidgeArms,
    gamma_scale: f64,
    gamma_exponent: f64,
    t: u64,
    predictions: Vec<f64>,
    probabilities: Vec<f64>,
    scratch: Vec<f64>,
}

impl SquareCb {
    pub fn new(info: &ContextInfo, gamma_scale: f64, gamma_exponent: f64, lambda: f64) -> Self {
        let s = info.shape;
        SquareCb {
            ridge: RidgeArms::new(s.arms, s.joint_dim(), lambda),
            gamma_scale,
            gamma_exponent,
            t: 0,
            predictions: vec![0.0; s.arms],
            probabilities: vec![0.0; s.arms],
            scratch: Vec::with_capacity(s.joint_dim()),
        }
    }

    /// The sampling distribution of the last `select` (for tests and logs).
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }
}

impl ContextualPolicy for SquareCb {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        let k = self.ridge.arms();
        let (ridge, scratch) = (&self.ridge, &mut self.scratch);
        let best = rng::fill_argmax(rng, &mut self.predictions, |a| ridge.predict(a, ctx.joint(a, scratch)));
        let gamma = self.gamma_scale * ((self.t + 1) as f64).powf(self.gamma_exponent);
        let top = self.predictions[best];
        let mut rest = 0.0;
        for (a, p) in self.probabilities.iter_mut().enumerate() {
            *p = if a == best { 0.0 } else { 1.0 / (k as f64 + gamma * (top - self.predictions[a])) };
            rest += *p;
        }
        self.probabilities[best] = (1.0 - rest).max(0.0);
        rng::categorical(rng, &self.probabilities)
    }

    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        let x = ctx.joint(arm, &mut self.scratch);
        self.ridge.update(arm, x, reward);
    }
}
