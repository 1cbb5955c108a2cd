//! The contextual ask/tell contract and its closed set of implementations.
//!
//! A [`ContextualPolicy`] selects an arm given the step's [`Context`] and is updated with the
//! same context. Every classic policy also runs on contextual environments, blind to the
//! context ([`ContextBlind`]): the baselines a contextual method has to beat. The harness
//! dispatches on [`AnyContextualPolicy`] once per run and then runs a monomorphized loop.

use super::linear::{LinEpsilonGreedy, LinTs, LinUcb, SquareCb};
use super::linucb_hybrid::LinUcbHybrid;
use super::{AnyPolicy, Policy, PolicyVisitor};
use crate::env::contextual::{Context, ContextShape};
use crate::rng::Stream;

/// What a contextual policy is told when a run starts.
#[derive(Clone, Copy, Debug)]
pub struct ContextInfo {
    pub shape: ContextShape,
    pub horizon: u64,
}

/// The ask/tell contract of a contextual bandit policy.
pub trait ContextualPolicy {
    /// Chooses the arm to pull in context `ctx`.
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize;
    /// Observes the reward of the arm just pulled in `ctx` (the context `select` saw).
    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, rng: &mut Stream);
}

/// A classic policy playing a contextual environment without looking at the context.
pub struct ContextBlind<'a, P>(pub &'a mut P);

impl<P: Policy> ContextualPolicy for ContextBlind<'_, P> {
    #[inline(always)]
    fn select(&mut self, _ctx: &Context, rng: &mut Stream) -> usize {
        self.0.select(rng)
    }
    #[inline(always)]
    fn update(&mut self, _ctx: &Context, arm: usize, reward: f64, rng: &mut Stream) {
        self.0.update(arm, reward, rng)
    }
}

/// A generic operation over any concrete contextual policy type (see [`super::PolicyVisitor`]).
pub trait ContextualVisitor {
    type Output;
    fn visit<P: ContextualPolicy>(self, policy: &mut P) -> Self::Output;
}

/// One of Armada's policies, built for a contextual environment.
pub enum AnyContextualPolicy {
    /// A classic policy that ignores the context.
    Blind(AnyPolicy),
    LinUcb(LinUcb),
    LinUcbHybrid(LinUcbHybrid),
    LinTs(LinTs),
    LinEpsilonGreedy(LinEpsilonGreedy),
    SquareCb(SquareCb),
}

struct Blindfold<V>(V);

impl<V: ContextualVisitor> PolicyVisitor for Blindfold<V> {
    type Output = V::Output;
    fn visit<P: Policy>(self, policy: &mut P) -> V::Output {
        self.0.visit(&mut ContextBlind(policy))
    }
}

impl AnyContextualPolicy {
    /// Runs `visitor` on the concrete policy inside.
    pub fn visit<V: ContextualVisitor>(&mut self, visitor: V) -> V::Output {
        match self {
            AnyContextualPolicy::Blind(p) => p.visit(Blindfold(visitor)),
            AnyContextualPolicy::LinUcb(p) => visitor.visit(p),
            AnyContextualPolicy::LinUcbHybrid(p) => visitor.visit(p),
            AnyContextualPolicy::LinTs(p) => visitor.visit(p),
            AnyContextualPolicy::LinEpsilonGreedy(p) => visitor.visit(p),
            AnyContextualPolicy::SquareCb(p) => visitor.visit(p),
        }
    }
}

impl ContextualPolicy for AnyContextualPolicy {
    fn select(&mut self, ctx: &Context, rng: &mut Stream) -> usize {
        match self {
            AnyContextualPolicy::Blind(p) => p.select(rng),
            AnyContextualPolicy::LinUcb(p) => p.select(ctx, rng),
            AnyContextualPolicy::LinUcbHybrid(p) => p.select(ctx, rng),
            AnyContextualPolicy::LinTs(p) => p.select(ctx, rng),
            AnyContextualPolicy::LinEpsilonGreedy(p) => p.select(ctx, rng),
            AnyContextualPolicy::SquareCb(p) => p.select(ctx, rng),
        }
    }
    fn update(&mut self, ctx: &Context, arm: usize, reward: f64, rng: &mut Stream) {
        match self {
            AnyContextualPolicy::Blind(p) => p.update(arm, reward, rng),
            AnyContextualPolicy::LinUcb(p) => p.update(ctx, arm, reward, rng),
            AnyContextualPolicy::LinUcbHybrid(p) => p.update(ctx, arm, reward, rng),
            AnyContextualPolicy::LinTs(p) => p.update(ctx, arm, reward, rng),
            AnyContextualPolicy::LinEpsilonGreedy(p) => p.update(ctx, arm, reward, rng),
            AnyContextualPolicy::SquareCb(p) => p.update(ctx, arm, reward, rng),
        }
    }
}
