//! The run harness: expands an [`Experiment`] into runs (environment × policy × seed index),
//! executes them in parallel, and returns per-run records in a fixed order.
//!
//! A run is a pure function of (master seed, environment identity, policy identity, seed
//! index). Each run draws its instance, its rewards and its policy randomness from separate
//! streams (see [`crate::rng`]); the reward stream does not depend on the policy, so every
//! policy on an environment faces the same noise for the same seed index (common random
//! numbers). Results are collected in run order whatever the thread count, so the output is
//! bit-identical with one thread or many.
//!
//! The step loop is monomorphized per (policy, environment) pair: [`crate::policy::AnyPolicy::visit`] and a
//! match on the reward model happen once per run, never per step, and the loop allocates
//! nothing. Contextual environments run the same way through [`crate::policy::AnyContextualPolicy::visit`]
//! and `contextual_loop`, which accounts regret against the best arm of each step's context
//! (and `replay_loop` for MovieLens replay, which counts only the steps that match a logged
//! rating).

use crate::env::contextual::{Context, ContextualEnvironment};
use crate::env::movielens::{Evaluation, MovieLensEnv, MovieLensWorld};
use crate::env::piecewise::{Drifting, Piecewise, PiecewiseReward, RegretNotion};
use crate::env::{BernoulliEnv, ContextualInstance, EnvKind, EnvSpec, Environment, GaussianEnv, Instance, RewardModel};
use crate::family::{FamilyEnv, FamilyRun, Measure};
use crate::metrics;
use crate::policy::{
    Agent, AgentFactory, AgentRun, AgentStats, BanditInfo, ContextInfo, ContextualPolicy, ContextualVisitor, Decision,
    Policy, PolicySpec, PolicyVisitor, RewardKind,
};
use crate::rng::{self, Role, Stream};
use rayon::prelude::*;

/// A validated experiment: environments × policies × seeds.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub name: String,
    /// Steps per run (an environment may override it).
    pub horizon: u64,
    /// Number of independent runs per environment × policy.
    pub seeds: u64,
    /// Master seed.
    pub seed: u64,
    /// Number of log-spaced checkpoints at which curves are recorded.
    pub checkpoints: usize,
    pub envs: Vec<EnvSpec>,
    pub policies: Vec<PolicySpec>,
}

impl Experiment {
    /// The horizon of environment `env`.
    pub fn horizon_of(&self, env: usize) -> u64 {
        self.envs[env].horizon.unwrap_or(self.horizon)
    }

    /// Checkpoints (step counts) of environment `env`.
    pub fn checkpoints_of(&self, env: usize) -> Vec<u64> {
        metrics::checkpoints(self.horizon_of(env), self.checkpoints)
    }

    /// Number of runs.
    pub fn run_count(&self) -> usize {
        self.envs.len() * self.policies.len() * self.seeds as usize
    }

    /// Total number of steps over all runs.
    pub fn total_steps(&self) -> u64 {
        (0..self.envs.len()).map(|e| self.horizon_of(e)).sum::<u64>() * self.policies.len() as u64 * self.seeds
    }

    /// The identity of run number `i` in the fixed run order (environment-major, then policy,
    /// then seed index).
    pub fn run_at(&self, i: usize) -> RunId {
        let seeds = self.seeds as usize;
        let per_env = self.policies.len() * seeds;
        RunId { env: i / per_env, policy: (i % per_env) / seeds, seed_index: (i % seeds) as u64 }
    }
}

/// Which run: indices into the experiment's environments and policies, and the seed index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunId {
    pub env: usize,
    pub policy: usize,
    pub seed_index: u64,
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    /// Cumulative pseudo-regret Σ(μ* − μ_{a_t}) at each checkpoint.
    pub regret: Vec<f64>,
    /// MinFrac at each checkpoint: K · min_a N_t(a) / t.
    pub min_frac: Vec<f64>,
    /// OptFrac at each checkpoint: pulls of optimal arms / t.
    pub opt_frac: Vec<f64>,
    /// Total realised reward.
    pub reward: f64,
    /// Pulls of each arm, ordered by the arm's true mean (best first). On a contextual
    /// environment arms are ordered by their expected reward summed over the run's contexts.
    pub pulls_by_rank: Vec<u64>,
    /// The instance's smallest positive gap (None when all arms tie, and on contextual
    /// environments, where gaps change with the context).
    pub min_gap: Option<f64>,
    /// What an agent counted (answers, calls, tokens, cost, latency); None for built-in
    /// policies.
    pub agent: Option<AgentStats>,
    /// Why an agent's run stopped before its horizon; its curves then end at the last
    /// checkpoint reached. None when the run finished.
    pub failure: Option<String>,
    /// Numbers only a structured family reports (e.g. constraint violations), in the family's
    /// fixed order; empty elsewhere.
    pub measures: Vec<Measure>,
}

impl RunRecord {
    /// Regret at the horizon.
    pub fn final_regret(&self) -> f64 {
        *self.regret.last().unwrap_or(&0.0)
    }
}

/// Runs every run of `exp` on the current rayon pool. `progress` is called after each run with
/// the number of steps it took (from any thread, in any order).
pub fn run_experiment(exp: &Experiment, progress: &(dyn Fn(u64) + Sync)) -> Vec<RunRecord> {
    let env_ids: Vec<String> = exp.envs.iter().map(EnvSpec::identity).collect();
    let policy_ids: Vec<String> = exp.policies.iter().map(PolicySpec::identity).collect();
    let checkpoints: Vec<Vec<u64>> = (0..exp.envs.len()).map(|e| exp.checkpoints_of(e)).collect();
    (0..exp.run_count())
        .into_par_iter()
        .map(|i| {
            let id = exp.run_at(i);
            let (env_id, policy_id, checkpoints) = (&env_ids[id.env], &policy_ids[id.policy], &checkpoints[id.env]);
            if let Some(factory) = &exp.policies[id.policy].agent {
                // Agents report progress step by step: their steps take model calls.
                return run_agent(exp, id, env_id, policy_id, checkpoints, &**factory, progress);
            }
            let rec = run_one(exp, id, env_id, policy_id, checkpoints);
            progress(exp.horizon_of(id.env));
            rec
        })
        .collect()
}

/// Executes one run.
pub fn run_one(exp: &Experiment, id: RunId, env_id: &str, policy_id: &str, checkpoints: &[u64]) -> RunRecord {
    if let Some(factory) = &exp.policies[id.policy].agent {
        return run_agent(exp, id, env_id, policy_id, checkpoints, &**factory, &|_| {});
    }
    if exp.envs[id.env].is_contextual() {
        return run_contextual(exp, id, env_id, policy_id, checkpoints);
    }
    match &exp.envs[id.env].kind {
        EnvKind::Family(family) => return run_family(exp, id, env_id, policy_id, checkpoints, &*family.0),
        EnvKind::Piecewise(table) => {
            return run_scheduled(exp, id, env_id, policy_id, checkpoints, Segments { table, next: 0 });
        }
        EnvKind::Drifting(wave) => return run_scheduled(exp, id, env_id, policy_id, checkpoints, wave),
        _ => {}
    }
    let instance = exp.envs[id.env].instantiate(exp.seed, id.seed_index);
    let info =
        BanditInfo { arms: instance.arms(), horizon: exp.horizon_of(id.env), reward_model: &instance.reward_model };
    let mut policy = exp.policies[id.policy].build(&info);
    let mut reward_rng = rng::stream(exp.seed, Role::Reward, &[env_id], id.seed_index);
    let mut policy_rng = rng::stream(exp.seed, Role::Policy, &[env_id, policy_id], id.seed_index);
    let mut out = Trajectory::new(instance.arms(), checkpoints.len());
    policy.visit(Simulate {
        instance: &instance,
        checkpoints,
        reward_rng: &mut reward_rng,
        policy_rng: &mut policy_rng,
        out: &mut out,
    });
    let order = instance.rank_order();
    RunRecord {
        id,
        regret: out.regret,
        min_frac: out.min_frac,
        opt_frac: out.opt_frac,
        reward: out.reward,
        pulls_by_rank: order.iter().map(|&a| out.counts[a]).collect(),
        min_gap: instance.min_gap(),
        agent: None,
        failure: None,
        measures: Vec::new(),
    }
}

/// One run on a structured family's environment: the family runs it and reports against its
/// own benchmark.
fn run_family(
    exp: &Experiment,
    id: RunId,
    env_id: &str,
    policy_id: &str,
    checkpoints: &[u64],
    family: &dyn FamilyEnv,
) -> RunRecord {
    let run = FamilyRun {
        master_seed: exp.seed,
        env_id,
        policy_id,
        seed_index: id.seed_index,
        horizon: exp.horizon_of(id.env),
        checkpoints,
    };
    let out = family.run(&exp.policies[id.policy], &run);
    RunRecord {
        id,
        regret: out.regret,
        min_frac: out.min_frac,
        opt_frac: out.opt_frac,
        reward: out.reward,
        pulls_by_rank: out.pulls_by_rank,
        min_gap: None,
        agent: None,
        failure: None,
        measures: out.measures,
    }
}

/// Accumulators of one run.
struct Trajectory {
    counts: Vec<u64>,
    regret: Vec<f64>,
    min_frac: Vec<f64>,
    opt_frac: Vec<f64>,
    reward: f64,
    // The running sums of [`Trajectory::step`], for environments whose expected rewards change
    // from step to step (contextual, replay, piecewise, drifting).
    /// Σ (best − chosen) of expected rewards: dynamic regret.
    dynamic_regret: f64,
    /// Σ expected reward of the chosen arm.
    collected: f64,
    /// Steps on which the chosen arm was a best one.
    optimal: u64,
    /// Σ expected reward per arm: how good each arm was over the run.
    value: Vec<f64>,
}

impl Trajectory {
    fn new(arms: usize, n_checkpoints: usize) -> Self {
        Trajectory {
            counts: vec![0; arms],
            regret: Vec::with_capacity(n_checkpoints),
            min_frac: Vec::with_capacity(n_checkpoints),
            opt_frac: Vec::with_capacity(n_checkpoints),
            reward: 0.0,
            dynamic_regret: 0.0,
            collected: 0.0,
            optimal: 0,
            value: vec![0.0; arms],
        }
    }

    /// Accounts one step: `arm` was chosen while the arms' expected rewards were `means` (the
    /// best of them `best`) and it paid `reward`.
    #[inline(always)]
    fn step(&mut self, arm: usize, means: &[f64], best: f64, reward: f64) {
        self.counts[arm] += 1;
        self.dynamic_regret += best - means[arm];
        self.collected += means[arm];
        self.optimal += u64::from(means[arm] == best);
        self.reward += reward;
        for (v, m) in self.value.iter_mut().zip(means) {
            *v += m;
        }
    }

    /// Accounts a forfeited step: no arm pulled, `paid` received (and expected).
    fn forfeit(&mut self, means: &[f64], best: f64, paid: f64) {
        self.dynamic_regret += best - paid;
        self.collected += paid;
        self.reward += paid;
        for (v, m) in self.value.iter_mut().zip(means) {
            *v += m;
        }
    }

    /// The regret to report under `notion` after the steps accounted so far.
    fn regret_under(&self, notion: RegretNotion) -> f64 {
        match notion {
            RegretNotion::Dynamic => self.dynamic_regret,
            RegretNotion::FixedArm => self.value.iter().copied().fold(f64::NEG_INFINITY, f64::max) - self.collected,
        }
    }

    /// Records the checkpoint after `t` steps of [`Trajectory::step`], with `regret` as the
    /// regret to report.
    fn checkpoint(&mut self, t: u64, regret: f64) {
        let tf = t as f64;
        let min_n = self.counts.iter().copied().min().unwrap_or(0);
        self.regret.push(regret);
        self.min_frac.push(self.counts.len() as f64 * min_n as f64 / tf);
        self.opt_frac.push(self.optimal as f64 / tf);
    }

    /// The record of a run accounted by [`Trajectory::step`]: arms ranked by their summed
    /// expected reward, no fixed gap.
    fn into_record(self, id: RunId) -> RunRecord {
        let value = &self.value;
        let mut order: Vec<usize> = (0..value.len()).collect();
        order.sort_by(|&a, &b| value[b].total_cmp(&value[a]).then(a.cmp(&b)));
        RunRecord {
            id,
            pulls_by_rank: order.iter().map(|&a| self.counts[a]).collect(),
            regret: self.regret,
            min_frac: self.min_frac,
            opt_frac: self.opt_frac,
            reward: self.reward,
            min_gap: None,
            agent: None,
            failure: None,
            measures: Vec::new(),
        }
    }
}

struct Simulate<'a> {
    instance: &'a Instance,
    checkpoints: &'a [u64],
    reward_rng: &'a mut Stream,
    policy_rng: &'a mut Stream,
    out: &'a mut Trajectory,
}

impl PolicyVisitor for Simulate<'_> {
    type Output = ();
    fn visit<P: Policy>(self, policy: &mut P) {
        let inst = self.instance;
        match &inst.reward_model {
            RewardModel::Bernoulli => {
                let mut env = BernoulliEnv { means: &inst.means };
                step_loop(policy, &mut env, inst, self.checkpoints, self.reward_rng, self.policy_rng, self.out)
            }
            RewardModel::Gaussian { sigmas } => {
                let mut env = GaussianEnv { means: &inst.means, sigmas };
                step_loop(policy, &mut env, inst, self.checkpoints, self.reward_rng, self.policy_rng, self.out)
            }
        }
    }
}

/// The hot loop: select, pull, update, account. No allocation, no dynamic dispatch.
#[inline(never)]
fn step_loop<P: Policy, E: Environment>(
    policy: &mut P,
    env: &mut E,
    inst: &Instance,
    checkpoints: &[u64],
    reward_rng: &mut Stream,
    policy_rng: &mut Stream,
    out: &mut Trajectory,
) {
    let gaps = &inst.gaps[..];
    let counts = &mut out.counts[..];
    let k = counts.len();
    // Every arm's reward, for full-information policies (empty, and never touched, otherwise).
    let mut all = vec![0.0; if P::FULL_INFORMATION { k } else { 0 }];
    let mut regret = 0.0;
    let mut reward_sum = 0.0;
    let mut t: u64 = 0;
    for &next in checkpoints {
        while t < next {
            let arm = policy.select(policy_rng);
            let r = if P::FULL_INFORMATION {
                let r = env.pull_all(arm, reward_rng, &mut all);
                policy.update_all(arm, &all, policy_rng);
                r
            } else {
                let r = env.pull(arm, reward_rng);
                policy.update(arm, r, policy_rng);
                r
            };
            counts[arm] += 1;
            regret += gaps[arm];
            reward_sum += r;
            t += 1;
        }
        let tf = t as f64;
        let min_n = counts.iter().copied().min().unwrap_or(0);
        let opt_n: u64 = (0..k).filter(|&a| inst.is_optimal(a)).map(|a| counts[a]).sum();
        out.regret.push(regret);
        out.min_frac.push(k as f64 * min_n as f64 / tf);
        out.opt_frac.push(opt_n as f64 / tf);
    }
    out.reward = reward_sum;
}

/// Arm means that change over time: a piecewise table or a drifting wave.
trait MeanSchedule {
    fn arms(&self) -> usize;
    fn reward(&self) -> PiecewiseReward;
    fn regret(&self) -> RegretNotion;
    /// Writes the means of step t into `out` (called with t = 0, 1, 2, … in order).
    fn means_at(&mut self, t: u64, out: &mut [f64]);
}

/// A piecewise table, walked segment by segment.
struct Segments<'a> {
    table: &'a Piecewise,
    next: usize,
}

impl MeanSchedule for Segments<'_> {
    fn arms(&self) -> usize {
        self.table.arms()
    }
    fn reward(&self) -> PiecewiseReward {
        self.table.reward
    }
    fn regret(&self) -> RegretNotion {
        self.table.regret
    }
    #[inline]
    fn means_at(&mut self, t: u64, out: &mut [f64]) {
        // Copy a segment's means when it starts (segment 0 at t = 0).
        let cps = &self.table.change_points;
        let seg = self.next;
        if t == 0 || (seg <= cps.len() && seg > 0 && t == cps[seg - 1]) {
            out.copy_from_slice(&self.table.segments[seg]);
            self.next += 1;
        }
    }
}

impl MeanSchedule for &Drifting {
    fn arms(&self) -> usize {
        self.arms
    }
    fn reward(&self) -> PiecewiseReward {
        self.reward
    }
    fn regret(&self) -> RegretNotion {
        self.regret
    }
    #[inline]
    fn means_at(&mut self, t: u64, out: &mut [f64]) {
        Drifting::means_at(self, t, out)
    }
}

/// Executes one run on an environment whose means change over time (`piecewise`, `drifting`):
/// regret against the best arm of each step (dynamic) or the best fixed arm in hindsight, as the
/// environment says. Random rewards keep common random numbers (one uniform or one normal per
/// step, whatever the arm).
fn run_scheduled<S: MeanSchedule>(
    exp: &Experiment,
    id: RunId,
    env_id: &str,
    policy_id: &str,
    checkpoints: &[u64],
    schedule: S,
) -> RunRecord {
    let k = schedule.arms();
    // Rewards in [0, 1] (Bernoulli draws or a table) are told as Bernoulli: Beta-Thompson and
    // KL-UCB accept fractional rewards in [0, 1].
    let (_, model) = scheduled_kind(schedule.reward(), k);
    let horizon = exp.horizon_of(id.env);
    let mut policy = exp.policies[id.policy].build(&BanditInfo { arms: k, horizon, reward_model: &model });
    let mut reward_rng = rng::stream(exp.seed, Role::Reward, &[env_id], id.seed_index);
    let mut policy_rng = rng::stream(exp.seed, Role::Policy, &[env_id, policy_id], id.seed_index);
    let mut out = Trajectory::new(k, checkpoints.len());
    policy.visit(SimulateScheduled {
        schedule,
        checkpoints,
        reward_rng: &mut reward_rng,
        policy_rng: &mut policy_rng,
        out: &mut out,
    });
    out.into_record(id)
}

struct SimulateScheduled<'a, S> {
    schedule: S,
    checkpoints: &'a [u64],
    reward_rng: &'a mut Stream,
    policy_rng: &'a mut Stream,
    out: &'a mut Trajectory,
}

impl<S: MeanSchedule> PolicyVisitor for SimulateScheduled<'_, S> {
    type Output = ();
    fn visit<P: Policy>(mut self, policy: &mut P) {
        let (reward, notion) = (self.schedule.reward(), self.schedule.regret());
        let out = self.out;
        let mut means = vec![0.0; out.counts.len()];
        let mut all = vec![0.0; if P::FULL_INFORMATION { means.len() } else { 0 }];
        let mut t = 0u64;
        for &next in self.checkpoints {
            while t < next {
                self.schedule.means_at(t, &mut means);
                let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let arm = policy.select(self.policy_rng);
                let r = if P::FULL_INFORMATION {
                    scheduled_rewards(reward, &means, self.reward_rng, &mut all);
                    policy.update_all(arm, &all, self.policy_rng);
                    all[arm]
                } else {
                    let r = scheduled_reward(reward, &means, arm, self.reward_rng);
                    policy.update(arm, r, self.policy_rng);
                    r
                };
                out.step(arm, &means, best, r);
                t += 1;
            }
            let regret = out.regret_under(notion);
            out.checkpoint(t, regret);
        }
    }
}

/// The reward of `arm` when the arms' means are `means`: one uniform or one normal per step,
/// whatever the arm (common random numbers).
#[inline(always)]
fn scheduled_reward(reward: PiecewiseReward, means: &[f64], arm: usize, rng: &mut Stream) -> f64 {
    match reward {
        PiecewiseReward::Bernoulli => BernoulliEnv { means }.pull(arm, rng),
        PiecewiseReward::Gaussian { sigma } => means[arm] + sigma * rng::normal(rng),
        PiecewiseReward::Deterministic => means[arm],
    }
}

/// Every arm's reward from the step's one draw (full information), as [`scheduled_reward`]
/// would pay each of them.
fn scheduled_rewards(reward: PiecewiseReward, means: &[f64], rng: &mut Stream, all: &mut [f64]) {
    match reward {
        PiecewiseReward::Bernoulli => {
            BernoulliEnv { means }.pull_all(0, rng, all);
        }
        PiecewiseReward::Gaussian { sigma } => {
            let z = rng::normal(rng);
            for (r, &m) in all.iter_mut().zip(means) {
                *r = m + sigma * z;
            }
        }
        PiecewiseReward::Deterministic => all.copy_from_slice(means),
    }
}

/// Executes one run on a contextual environment.
fn run_contextual(exp: &Experiment, id: RunId, env_id: &str, policy_id: &str, checkpoints: &[u64]) -> RunRecord {
    let world = exp.envs[id.env].instantiate_contextual(exp.seed, id.seed_index);
    let shape = world.shape();
    let horizon = exp.horizon_of(id.env);
    let blind_model = world.blind_reward_model();
    let bandit = BanditInfo { arms: shape.arms, horizon, reward_model: &blind_model };
    let mut policy = exp.policies[id.policy].build_contextual(&ContextInfo { shape, horizon }, &bandit);
    let mut reward_rng = rng::stream(exp.seed, Role::Reward, &[env_id], id.seed_index);
    let mut policy_rng = rng::stream(exp.seed, Role::Policy, &[env_id, policy_id], id.seed_index);
    let mut out = Trajectory::new(shape.arms, checkpoints.len());
    policy.visit(SimulateContextual {
        world: &world,
        checkpoints,
        reward_rng: &mut reward_rng,
        policy_rng: &mut policy_rng,
        out: &mut out,
    });
    out.into_record(id)
}

struct SimulateContextual<'a> {
    world: &'a ContextualInstance,
    checkpoints: &'a [u64],
    reward_rng: &'a mut Stream,
    policy_rng: &'a mut Stream,
    out: &'a mut Trajectory,
}

impl ContextualVisitor for SimulateContextual<'_> {
    type Output = ();
    fn visit<P: ContextualPolicy>(self, policy: &mut P) {
        let shape = self.world.shape();
        let mut ctx = Context::zeros(shape.arms, shape.dim, shape.arm_dim);
        match self.world {
            ContextualInstance::Linear(inst) => contextual_loop(
                policy,
                &mut &*inst,
                &mut ctx,
                self.checkpoints,
                self.reward_rng,
                self.policy_rng,
                self.out,
            ),
            ContextualInstance::MovieLens { world, sigma, evaluation: Evaluation::Model } => contextual_loop(
                policy,
                &mut MovieLensEnv { world, sigma: *sigma },
                &mut ctx,
                self.checkpoints,
                self.reward_rng,
                self.policy_rng,
                self.out,
            ),
            ContextualInstance::MovieLens { world, evaluation: Evaluation::Replay, .. } => {
                replay_loop(policy, world, &mut ctx, self.checkpoints, self.reward_rng, self.policy_rng, self.out)
            }
        }
    }
}

/// Rejection-sampling replay (see [`crate::env::movielens`]): draw a logged rating event, let the
/// policy choose for that user, and count the step only when it chose the logged movie. A step
/// is a match; the draws in between are discarded (so contexts are not shared across policies).
/// Every arm has at least one event (checked when the world is built), so each attempt matches
/// with probability at least 1 / events and the loop ends.
#[inline(never)]
fn replay_loop<P: ContextualPolicy>(
    policy: &mut P,
    world: &MovieLensWorld,
    ctx: &mut Context,
    checkpoints: &[u64],
    reward_rng: &mut Stream,
    policy_rng: &mut Stream,
    out: &mut Trajectory,
) {
    let mut t: u64 = 0;
    for &next in checkpoints {
        while t < next {
            let (user, logged) = world.events[rng::index(reward_rng, world.events.len())];
            let u = user as usize;
            ctx.shared.copy_from_slice(world.context(u));
            ctx.user = Some(u);
            let arm = policy.select(ctx, policy_rng);
            if arm != logged as usize {
                continue;
            }
            let ratings = world.ratings_of(u);
            // Unrated movies are 0 and the logged one is rated (≥ 1): the row maximum is the
            // user's best rated movie.
            let best = ratings.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            policy.update(ctx, arm, ratings[arm], policy_rng);
            out.step(arm, ratings, best, ratings[arm]);
            t += 1;
        }
        out.checkpoint(t, out.dynamic_regret);
    }
}

/// The contextual hot loop: observe, select, pull, update, account against the best arm in
/// this context.
#[inline(never)]
fn contextual_loop<P: ContextualPolicy, E: ContextualEnvironment>(
    policy: &mut P,
    env: &mut E,
    ctx: &mut Context,
    checkpoints: &[u64],
    reward_rng: &mut Stream,
    policy_rng: &mut Stream,
    out: &mut Trajectory,
) {
    let mut means = vec![0.0; out.counts.len()];
    let mut t: u64 = 0;
    for &next in checkpoints {
        while t < next {
            env.observe(ctx, &mut means, reward_rng);
            let arm = policy.select(ctx, policy_rng);
            let r = env.reward(arm, &means, reward_rng);
            policy.update(ctx, arm, r, policy_rng);
            let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            out.step(arm, &means, best, r);
            t += 1;
        }
        out.checkpoint(t, out.dynamic_regret);
    }
}

/// Executes one run of an agent. Agents are called through a trait object once per step (their
/// steps cost model calls), on the same environments, reward streams and accounting as the
/// built-in policies: an agent and UCB on the same seed index face the same rewards.
fn run_agent(
    exp: &Experiment,
    id: RunId,
    env_id: &str,
    policy_id: &str,
    checkpoints: &[u64],
    factory: &dyn AgentFactory,
    progress: &(dyn Fn(u64) + Sync),
) -> RunRecord {
    let env = &exp.envs[id.env];
    let horizon = exp.horizon_of(id.env);
    let run = |arms, rewards, reward_model, world| AgentRun {
        env,
        env_id,
        policy_id,
        master_seed: exp.seed,
        seed_index: id.seed_index,
        arms,
        horizon,
        rewards,
        reward_model,
        world,
    };
    let mut reward_rng = rng::stream(exp.seed, Role::Reward, &[env_id], id.seed_index);
    let loop_ = AgentLoop { checkpoints, reward_rng: &mut reward_rng, progress, id };
    if env.is_contextual() {
        let world = env.instantiate_contextual(exp.seed, id.seed_index);
        let shape = world.shape();
        let model = world.blind_reward_model();
        let rewards = match model {
            RewardModel::Bernoulli => RewardKind::Bernoulli,
            RewardModel::Gaussian { .. } => RewardKind::Real,
        };
        let agent = factory.build(&run(shape.arms, rewards, model, Some(&world)));
        let ctx = Context::zeros(shape.arms, shape.dim, shape.arm_dim);
        return match &world {
            ContextualInstance::Linear(inst) => loop_.run(agent, &mut Contextual { env: inst, ctx, arms: shape.arms }),
            ContextualInstance::MovieLens { world, sigma, evaluation: Evaluation::Model } => {
                loop_.run(agent, &mut Contextual { env: MovieLensEnv { world, sigma: *sigma }, ctx, arms: shape.arms })
            }
            ContextualInstance::MovieLens { evaluation: Evaluation::Replay, .. } => {
                failed(id, "agents cannot run under replay evaluation (each match would cost many model calls)")
            }
        };
    }
    match &env.kind {
        EnvKind::Piecewise(table) => {
            let (rewards, model) = scheduled_kind(table.reward, table.arms());
            let agent = factory.build(&run(table.arms(), rewards, model, None));
            loop_.run(agent, &mut Scheduled { schedule: Segments { table, next: 0 } })
        }
        EnvKind::Drifting(wave) => {
            let (rewards, model) = scheduled_kind(wave.reward, wave.arms);
            let agent = factory.build(&run(wave.arms, rewards, model, None));
            loop_.run(agent, &mut Scheduled { schedule: wave })
        }
        _ => {
            let instance = env.instantiate(exp.seed, id.seed_index);
            let rewards = match &instance.reward_model {
                RewardModel::Bernoulli => RewardKind::Bernoulli,
                RewardModel::Gaussian { sigmas } => {
                    RewardKind::Gaussian { sigma: sigmas.iter().copied().fold(0.0, f64::max) }
                }
            };
            let agent = factory.build(&run(instance.arms(), rewards, instance.reward_model.clone(), None));
            let mut rec = loop_.run(agent, &mut Stationary { instance: &instance });
            rec.min_gap = instance.min_gap();
            rec
        }
    }
}

/// How a scheduled environment's rewards are put into words, and the model a built-in policy
/// is told (as in `run_scheduled`).
fn scheduled_kind(reward: PiecewiseReward, arms: usize) -> (RewardKind, RewardModel) {
    match reward {
        PiecewiseReward::Gaussian { sigma } => {
            (RewardKind::Gaussian { sigma }, RewardModel::Gaussian { sigmas: vec![sigma; arms] })
        }
        _ => (RewardKind::Bernoulli, RewardModel::Bernoulli),
    }
}

/// The record of a run that could not start.
fn failed(id: RunId, why: impl Into<String>) -> RunRecord {
    let mut rec = Trajectory::new(0, 0).into_record(id);
    rec.failure = Some(why.into());
    rec
}

/// One step's environment side, for the agent loop: what the arms are worth now, the context
/// (if any), and the reward of the arm pulled.
trait AgentWorld {
    fn arms(&self) -> usize;
    /// Starts step `t`: writes the arms' expected rewards into `means` and returns the context.
    fn begin(&mut self, t: u64, means: &mut [f64], rng: &mut Stream) -> Option<&Context>;
    /// The reward of `arm` this step.
    fn pay(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64;
    fn regret_notion(&self) -> RegretNotion {
        RegretNotion::Dynamic
    }
}

struct Stationary<'a> {
    instance: &'a Instance,
}

impl AgentWorld for Stationary<'_> {
    fn arms(&self) -> usize {
        self.instance.arms()
    }
    fn begin(&mut self, _t: u64, means: &mut [f64], _rng: &mut Stream) -> Option<&Context> {
        means.copy_from_slice(&self.instance.means);
        None
    }
    fn pay(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64 {
        match &self.instance.reward_model {
            RewardModel::Bernoulli => BernoulliEnv { means }.pull(arm, rng),
            RewardModel::Gaussian { sigmas } => GaussianEnv { means, sigmas }.pull(arm, rng),
        }
    }
}

struct Scheduled<S> {
    schedule: S,
}

impl<S: MeanSchedule> AgentWorld for Scheduled<S> {
    fn arms(&self) -> usize {
        self.schedule.arms()
    }
    fn begin(&mut self, t: u64, means: &mut [f64], _rng: &mut Stream) -> Option<&Context> {
        self.schedule.means_at(t, means);
        None
    }
    fn pay(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64 {
        scheduled_reward(self.schedule.reward(), means, arm, rng)
    }
    fn regret_notion(&self) -> RegretNotion {
        self.schedule.regret()
    }
}

struct Contextual<E> {
    env: E,
    ctx: Context,
    arms: usize,
}

impl<E: ContextualEnvironment> AgentWorld for Contextual<E> {
    fn arms(&self) -> usize {
        self.arms
    }
    fn begin(&mut self, _t: u64, means: &mut [f64], rng: &mut Stream) -> Option<&Context> {
        self.env.observe(&mut self.ctx, means, rng);
        Some(&self.ctx)
    }
    fn pay(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64 {
        self.env.reward(arm, means, rng)
    }
}

struct AgentLoop<'a> {
    checkpoints: &'a [u64],
    reward_rng: &'a mut Stream,
    progress: &'a (dyn Fn(u64) + Sync),
    id: RunId,
}

impl AgentLoop<'_> {
    /// Act, pay, observe, account. A forfeited step still draws the step's reward (for arm 0,
    /// discarded), so the reward stream stays aligned with every other policy's.
    fn run<W: AgentWorld>(self, agent: Result<Box<dyn Agent>, String>, world: &mut W) -> RunRecord {
        let mut agent = match agent {
            Ok(a) => a,
            Err(why) => return failed(self.id, why),
        };
        let notion = world.regret_notion();
        let mut out = Trajectory::new(world.arms(), self.checkpoints.len());
        let mut means = vec![0.0; world.arms()];
        let mut failure = None;
        let mut t = 0u64;
        'run: for &next in self.checkpoints {
            while t < next {
                let context = world.begin(t, &mut means, self.reward_rng);
                let decision = match agent.act(t, context) {
                    Ok(d) => d,
                    Err(why) => {
                        failure = Some(format!("step {t}: {why}"));
                        break 'run;
                    }
                };
                let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                match decision {
                    Decision::Arm(arm) if arm < means.len() => {
                        let r = world.pay(arm, &means, self.reward_rng);
                        agent.observe(Some(arm), r);
                        out.step(arm, &means, best, r);
                    }
                    Decision::Arm(arm) => {
                        failure = Some(format!("step {t}: the agent chose arm {arm} of {}", means.len()));
                        break 'run;
                    }
                    Decision::Forfeit => {
                        world.pay(0, &means, self.reward_rng);
                        let paid = agent.forfeit_reward();
                        agent.observe(None, paid);
                        out.forfeit(&means, best, paid);
                    }
                }
                t += 1;
                (self.progress)(1);
            }
            let regret = out.regret_under(notion);
            out.checkpoint(t, regret);
        }
        let stats = agent.stats();
        let mut rec = out.into_record(self.id);
        rec.agent = Some(stats);
        rec.failure = failure;
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{EnvKind, EnvPreset};
    use crate::policy::{PolicySpec, find_policy};

    fn small_experiment() -> Experiment {
        let env = |kind: EnvKind, shuffle| EnvSpec { shuffle, ..EnvSpec::new(kind) };
        Experiment {
            name: "t".into(),
            horizon: 300,
            seeds: 6,
            seed: 11,
            checkpoints: 20,
            envs: vec![
                env(EnvKind::Preset { preset: EnvPreset::BernoulliHard, arms: 5 }, true),
                env(EnvKind::Preset { preset: EnvPreset::GaussianEasy, arms: 4 }, true),
            ],
            policies: ["ucb", "thompson", "random"]
                .iter()
                .map(|n| PolicySpec::with_defaults(find_policy(n).unwrap()))
                .collect(),
        }
    }

    #[test]
    fn run_order_covers_every_run_once() {
        let exp = small_experiment();
        let ids: Vec<RunId> = (0..exp.run_count()).map(|i| exp.run_at(i)).collect();
        assert_eq!(ids.len(), 2 * 3 * 6);
        assert_eq!(ids[0], RunId { env: 0, policy: 0, seed_index: 0 });
        assert_eq!(ids[7], RunId { env: 0, policy: 1, seed_index: 1 });
        assert_eq!(ids[35], RunId { env: 1, policy: 2, seed_index: 5 });
    }

    #[test]
    fn records_are_consistent() {
        let exp = small_experiment();
        let recs = run_experiment(&exp, &|_| {});
        for r in &recs {
            let total: u64 = r.pulls_by_rank.iter().sum();
            assert_eq!(total, exp.horizon_of(r.id.env));
            assert!(r.regret.windows(2).all(|w| w[0] <= w[1]));
            assert!(r.opt_frac.iter().chain(&r.min_frac).all(|f| (0.0..=1.0 + 1e-12).contains(f)));
        }
    }

    #[test]
    fn identical_across_thread_counts() {
        let exp = small_experiment();
        let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
        let one = pool(1).install(|| run_experiment(&exp, &|_| {}));
        let two = pool(2).install(|| run_experiment(&exp, &|_| {}));
        let four = pool(4).install(|| run_experiment(&exp, &|_| {}));
        assert_eq!(one, two);
        assert_eq!(one, four);
    }

    #[test]
    fn adding_or_reordering_policies_changes_no_other_run() {
        let exp = small_experiment();
        let base = run_experiment(&exp, &|_| {});
        let mut other = exp.clone();
        other.policies.reverse();
        other.policies.insert(1, PolicySpec::with_defaults(find_policy("exp3").unwrap()));
        let changed = run_experiment(&other, &|_| {});
        for r in &base {
            let label = &exp.policies[r.id.policy].label;
            let p2 = other.policies.iter().position(|p| &p.label == label).unwrap();
            let twin = changed
                .iter()
                .find(|c| c.id.env == r.id.env && c.id.policy == p2 && c.id.seed_index == r.id.seed_index)
                .unwrap();
            assert_eq!(r.regret, twin.regret);
            assert_eq!(r.reward, twin.reward);
        }
    }

    #[test]
    fn policies_share_reward_noise() {
        // Common random numbers: with identical Gaussian arms the reward at step t is 0 + z_t
        // whatever the arm, so every policy must collect exactly the same total reward for the
        // same seed index, and different seed indices must differ.
        let mut exp = small_experiment();
        exp.envs = vec![EnvSpec {
            label: "flat".into(),
            ..EnvSpec::new(EnvKind::Gaussian { means: vec![0.0; 3], sigma: crate::env::Sigma::Shared(1.0) })
        }];
        let recs = run_experiment(&exp, &|_| {});
        for r in &recs {
            let first = recs.iter().find(|o| o.id.seed_index == r.id.seed_index).unwrap();
            assert_eq!(r.reward.to_bits(), first.reward.to_bits());
        }
        assert_ne!(recs[0].reward, recs[1].reward);
        // And a renamed policy produces identical runs (the label is not part of the identity).
        let mut twin = exp.clone();
        twin.policies[0].label = "renamed".into();
        assert_eq!(recs, run_experiment(&twin, &|_| {}));
    }
}
