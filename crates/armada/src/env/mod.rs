//! Environments: stochastic multi-armed bandits that hide the truth and expose it for exact regret.
//!
//! An [`EnvSpec`] describes an environment as written in an experiment spec (explicit means or
//! a BanditBench preset). For each run it is turned into an [`Instance`]: concrete arm means
//! (drawn and/or shuffled from the instance stream) and a reward model. The instance knows the
//! expected reward of every arm, so regret is computed from expectations, never estimated.
//!
//! Reward noise uses common random numbers: a Bernoulli step draws one uniform `u` and pays
//! `u < μ_a`; a Gaussian step draws one standard normal `z` and pays `μ_a + σ_a·z`, whatever the
//! arm. Two policies on the same environment and seed index therefore face the same noise at
//! every step.

pub mod contextual;
pub mod linear;
pub mod movielens;
pub mod piecewise;
pub mod presets;

use crate::family::{Family, FamilyEnv};
use crate::rng::{self, Role, Stream};
use contextual::ContextShape;
use linear::{LinearInstance, LinearReward, LinearSpec};
use movielens::{Evaluation, MovieLensSpec, MovieLensWorld};
use piecewise::{Drifting, Piecewise, PiecewiseReward, RegretNotion};
pub use presets::EnvPreset;
use rand_distr::Distribution;
use std::sync::Arc;

/// The regret notion of a classic environment (fixed means): against the best arm.
pub const CLASSIC_REGRET: &str = "pseudo-regret vs the best arm";

/// What a policy may know about the reward distribution (the family and its noise scale, never
/// the means). Policies with `family = "auto"` read it to pick their model.
#[derive(Clone, Debug, PartialEq)]
pub enum RewardModel {
    /// Rewards in {0, 1}.
    Bernoulli,
    /// Rewards `μ_a + σ_a·z`, z ~ N(0, 1); one σ per arm.
    Gaussian { sigmas: Vec<f64> },
}

/// How a Gaussian environment's noise scale is given.
#[derive(Clone, Debug, PartialEq)]
pub enum Sigma {
    /// One σ for every arm.
    Shared(f64),
    /// One σ per arm, in the order of `means`.
    PerArm(Vec<f64>),
}

/// The shape of an environment, before an instance is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvKind {
    /// Bernoulli arms with the given success probabilities.
    Bernoulli { means: Vec<f64> },
    /// Gaussian arms with the given means and standard deviation(s).
    Gaussian { means: Vec<f64>, sigma: Sigma },
    /// A named BanditBench preset with `arms` arms.
    Preset { preset: EnvPreset, arms: usize },
    /// A synthetic linear contextual bandit.
    Linear(LinearSpec),
    /// MovieLens users and movies.
    MovieLens(MovieLensSpec),
    /// Arm means that change at given steps (piecewise-stationary, or an oblivious adversary's
    /// reward table).
    Piecewise(Piecewise),
    /// Arm means that drift smoothly (shifted sine waves).
    Drifting(Drifting),
    /// A structured family (tallying, recharging, restless, conservative, Lipschitz,
    /// knapsack): rewards that depend on more than a fixed mean per arm. See [`crate::family`].
    Family(Family),
}

/// An environment as written in an experiment spec, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvSpec {
    /// The name shown in tables and files (unique within an experiment).
    pub label: String,
    pub kind: EnvKind,
    /// Permute the arms with the instance stream, so the best arm's index is random.
    pub shuffle: bool,
    /// When set, every seed index uses the same instance, drawn from this seed; otherwise each
    /// seed index draws its own (fresh Gaussian means, fresh shuffle).
    pub instance_seed: Option<u64>,
    /// Overrides the experiment's horizon for this environment.
    pub horizon: Option<u64>,
    /// How agents that speak (LLM agents) are told this environment: a scenario name or a
    /// scenario file. Built-in policies ignore it; when set it is part of the identity, so a
    /// verbal twin of a numeric environment is a configuration of its own.
    pub scenario: Option<String>,
}

impl EnvSpec {
    /// An environment of `kind` with its automatic label, arms in order, a fresh instance per
    /// seed index, the experiment's horizon and no scenario. Set other fields with struct update
    /// syntax: `EnvSpec { shuffle: true, ..EnvSpec::new(kind) }`.
    pub fn new(kind: EnvKind) -> Self {
        EnvSpec {
            label: EnvSpec::default_label(&kind),
            kind,
            shuffle: false,
            instance_seed: None,
            horizon: None,
            scenario: None,
        }
    }

    /// Number of arms.
    pub fn arms(&self) -> usize {
        match &self.kind {
            EnvKind::Bernoulli { means } | EnvKind::Gaussian { means, .. } => means.len(),
            EnvKind::Preset { arms, .. } => *arms,
            EnvKind::Linear(l) => l.arms,
            EnvKind::MovieLens(m) => m.settings.arms,
            EnvKind::Piecewise(p) => p.arms(),
            EnvKind::Drifting(d) => d.arms,
            EnvKind::Family(f) => f.0.arms(),
        }
    }

    /// Whether the environment shows a context before each decision.
    pub fn is_contextual(&self) -> bool {
        matches!(self.kind, EnvKind::Linear(_) | EnvKind::MovieLens(_))
    }

    /// Whether the arm means change over time (regret is then dynamic: against the best arm at
    /// each step).
    pub fn is_nonstationary(&self) -> bool {
        matches!(self.kind, EnvKind::Piecewise(_) | EnvKind::Drifting(_))
    }

    /// The reward model's name as shown in tables: bernoulli, gaussian or logistic.
    pub fn reward_name(&self) -> String {
        let name = match &self.kind {
            EnvKind::Linear(l) => match l.reward {
                LinearReward::Gaussian { .. } => "gaussian",
                LinearReward::Logistic => "logistic",
            },
            EnvKind::MovieLens(m) => match (m.settings.evaluation, m.settings.sigma > 0.0) {
                (Evaluation::Replay, _) => "rating (replay)",
                (Evaluation::Model, false) => "rating (low-rank model)",
                (Evaluation::Model, true) => "rating (low-rank model + noise)",
            },
            EnvKind::Piecewise(p) => match p.reward {
                PiecewiseReward::Bernoulli => "bernoulli, piecewise-stationary",
                PiecewiseReward::Gaussian { .. } => "gaussian, piecewise-stationary",
                PiecewiseReward::Deterministic => "deterministic reward table",
            },
            EnvKind::Drifting(d) => match d.reward {
                PiecewiseReward::Bernoulli => "bernoulli, drifting",
                PiecewiseReward::Gaussian { .. } => "gaussian, drifting",
                PiecewiseReward::Deterministic => "deterministic, drifting",
            },
            EnvKind::Family(f) => return f.0.reward_name(),
            _ if self.is_bernoulli() => "bernoulli",
            _ => "gaussian",
        };
        name.to_string()
    }

    /// What regret is measured against on this environment, as shown in the output.
    pub fn regret_name(&self) -> String {
        match &self.kind {
            EnvKind::Linear(_) | EnvKind::MovieLens(_) => "pseudo-regret vs the best arm in each step's context".into(),
            EnvKind::Piecewise(Piecewise { regret, .. }) | EnvKind::Drifting(Drifting { regret, .. }) => match regret {
                RegretNotion::Dynamic => "dynamic regret vs the best arm at each step".into(),
                RegretNotion::FixedArm => "regret vs the best fixed arm in hindsight".into(),
            },
            EnvKind::Family(f) => f.0.regret_name(),
            _ => CLASSIC_REGRET.into(),
        }
    }

    /// The structured family this environment belongs to, if any.
    pub fn family(&self) -> Option<&dyn FamilyEnv> {
        match &self.kind {
            EnvKind::Family(f) => Some(&*f.0),
            _ => None,
        }
    }

    /// The canonical description that seeds this environment's random streams. It names
    /// everything that changes the instance or the rewards and nothing else (not the label, not
    /// the horizon: a longer horizon extends the same trajectories).
    pub fn identity(&self) -> String {
        let body = match &self.kind {
            EnvKind::Bernoulli { means } => format!("bernoulli(means={})", fmt_list(means)),
            EnvKind::Gaussian { means, sigma } => {
                let s = match sigma {
                    Sigma::Shared(s) => format!("sigma={s}"),
                    Sigma::PerArm(v) => format!("sigmas={}", fmt_list(v)),
                };
                format!("gaussian(means={},{s})", fmt_list(means))
            }
            EnvKind::Preset { preset, arms } => format!("{}(arms={arms})", preset.name()),
            EnvKind::Linear(l) => l.identity(),
            EnvKind::MovieLens(m) => m.identity(),
            EnvKind::Piecewise(p) => p.identity(),
            EnvKind::Drifting(d) => d.identity(),
            EnvKind::Family(f) => format!("{}:{}", f.0.kind(), f.0.identity()),
        };
        let mut id = match self.instance_seed {
            Some(s) => format!("{body};shuffle={};instance_seed={s}", self.shuffle),
            None => format!("{body};shuffle={}", self.shuffle),
        };
        if let Some(s) = &self.scenario {
            id.push_str(&format!(";scenario={s}"));
        }
        id
    }

    /// A short automatic label: the preset or kind and the number of arms.
    pub fn default_label(kind: &EnvKind) -> String {
        match kind {
            EnvKind::Bernoulli { means } => format!("bernoulli-k{}", means.len()),
            EnvKind::Gaussian { means, .. } => format!("gaussian-k{}", means.len()),
            EnvKind::Preset { preset, arms } => format!("{}-k{arms}", preset.name()),
            EnvKind::Linear(l) => format!("linear-d{}-k{}", l.features + l.arm_features, l.arms),
            EnvKind::Piecewise(p) => format!("piecewise-k{}-c{}", p.arms(), p.change_points.len()),
            EnvKind::Drifting(d) => format!("drifting-k{}-p{}", d.arms, d.period),
            EnvKind::Family(f) => f.0.default_label(),
            EnvKind::MovieLens(m) => match m.settings.evaluation {
                Evaluation::Model => format!("movielens-k{}", m.settings.arms),
                Evaluation::Replay => format!("movielens-replay-k{}", m.settings.arms),
            },
        }
    }

    /// The stream an instance is drawn from: per seed index, or pinned by `instance_seed`.
    fn instance_stream(&self, master: u64, seed_index: u64) -> Stream {
        let id = self.identity();
        match self.instance_seed {
            Some(s) => rng::stream(s, Role::Instance, &[&id], 0),
            None => rng::stream(master, Role::Instance, &[&id], seed_index),
        }
    }

    /// Draws the contextual world used by seed index `seed_index` under master seed `master`.
    /// Classic (context-free) environments use [`instantiate`](Self::instantiate).
    pub fn instantiate_contextual(&self, master: u64, seed_index: u64) -> ContextualInstance {
        let mut rng = self.instance_stream(master, seed_index);
        match &self.kind {
            EnvKind::Linear(l) => ContextualInstance::Linear(l.draw(&mut rng)),
            EnvKind::MovieLens(m) => ContextualInstance::MovieLens {
                world: Arc::clone(&m.world),
                sigma: m.settings.sigma,
                evaluation: m.settings.evaluation,
            },
            _ => unreachable!("instantiate_contextual called on the classic environment {}", self.label),
        }
    }

    /// Draws the instance used by seed index `seed_index` under master seed `master` (classic
    /// environments; contextual ones use [`instantiate_contextual`](Self::instantiate_contextual)).
    pub fn instantiate(&self, master: u64, seed_index: u64) -> Instance {
        let mut rng = self.instance_stream(master, seed_index);
        let (mut means, mut sigmas, bernoulli) = match &self.kind {
            EnvKind::Bernoulli { means } => (means.clone(), Vec::new(), true),
            EnvKind::Gaussian { means, sigma } => {
                let s = match sigma {
                    Sigma::Shared(s) => vec![*s; means.len()],
                    Sigma::PerArm(v) => v.clone(),
                };
                (means.clone(), s, false)
            }
            EnvKind::Preset { preset, arms } => preset.draw(*arms, &mut rng),
            // The first segment (the harness runs piecewise environments segment by segment).
            EnvKind::Piecewise(p) => match p.reward {
                PiecewiseReward::Gaussian { sigma } => (p.segments[0].clone(), vec![sigma; p.arms()], false),
                _ => (p.segments[0].clone(), Vec::new(), true),
            },
            // The means at step 0 (the harness computes them step by step).
            EnvKind::Drifting(d) => {
                let mut m = vec![0.0; d.arms];
                d.means_at(0, &mut m);
                match d.reward {
                    PiecewiseReward::Gaussian { sigma } => (m, vec![sigma; d.arms], false),
                    _ => (m, Vec::new(), true),
                }
            }
            EnvKind::Linear(_) | EnvKind::MovieLens(_) => {
                unreachable!("instantiate called on the contextual environment {}", self.label)
            }
            EnvKind::Family(_) => unreachable!("instantiate called on the structured environment {}", self.label),
        };
        if self.shuffle {
            // Fisher–Yates, applying the same permutation to means and sigmas.
            for i in (1..means.len()).rev() {
                let j = rng::index(&mut rng, i + 1);
                means.swap(i, j);
                if !sigmas.is_empty() {
                    sigmas.swap(i, j);
                }
            }
        }
        let reward_model = if bernoulli { RewardModel::Bernoulli } else { RewardModel::Gaussian { sigmas } };
        Instance::new(means, reward_model)
    }

    /// Whether every seed index plays the same instance: pinned by `instance_seed`, or nothing
    /// random in it (explicit means, no shuffle).
    pub fn fixed_instance(&self) -> bool {
        match &self.kind {
            EnvKind::Linear(_) => self.instance_seed.is_some(),
            EnvKind::MovieLens(_) | EnvKind::Piecewise(_) | EnvKind::Drifting(_) => true,
            // A family draws (or not) its own instances; its table says how.
            EnvKind::Family(f) => f.0.same_instance(),
            _ => {
                self.instance_seed.is_some()
                    || (!self.shuffle && !matches!(self.kind, EnvKind::Preset { preset, .. } if !preset.is_bernoulli()))
            }
        }
    }

    /// The reward family, known before any instance is drawn.
    pub fn is_bernoulli(&self) -> bool {
        match &self.kind {
            EnvKind::Bernoulli { .. } => true,
            EnvKind::Gaussian { .. } => false,
            EnvKind::Preset { preset, .. } => preset.is_bernoulli(),
            EnvKind::Linear(l) => l.reward == LinearReward::Logistic,
            EnvKind::MovieLens(_) => false,
            EnvKind::Piecewise(p) => !matches!(p.reward, PiecewiseReward::Gaussian { .. }),
            EnvKind::Drifting(d) => !matches!(d.reward, PiecewiseReward::Gaussian { .. }),
            EnvKind::Family(_) => false,
        }
    }
}

/// One drawn contextual world.
#[derive(Clone)]
pub enum ContextualInstance {
    Linear(LinearInstance),
    /// The shared MovieLens world; every seed index plays it and draws its own users.
    MovieLens {
        world: Arc<MovieLensWorld>,
        sigma: f64,
        evaluation: Evaluation,
    },
}

impl ContextualInstance {
    pub fn shape(&self) -> ContextShape {
        match self {
            ContextualInstance::Linear(l) => l.spec.shape(),
            ContextualInstance::MovieLens { world, .. } => {
                ContextShape { arms: world.movies.len(), dim: world.dim, arm_dim: 0 }
            }
        }
    }

    /// The reward model a context-blind classic policy is told: Bernoulli for 0/1 rewards,
    /// otherwise Gaussian with σ = 1 for every arm (the marginal spread of a reward over
    /// contexts is of that order in the built-in worlds; it only matters to policies with
    /// `family = "auto"`).
    pub fn blind_reward_model(&self) -> RewardModel {
        let arms = self.shape().arms;
        match self {
            ContextualInstance::Linear(l) if l.spec.reward == LinearReward::Logistic => RewardModel::Bernoulli,
            _ => RewardModel::Gaussian { sigmas: vec![1.0; arms] },
        }
    }
}

pub(crate) fn fmt_list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!("[{}]", parts.join(","))
}

/// One concrete bandit: arm means and reward model, plus derived quantities for regret.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub means: Vec<f64>,
    pub reward_model: RewardModel,
    /// μ* = max mean.
    pub best_mean: f64,
    /// Δ(a) = μ* − μ(a) for every arm.
    pub gaps: Vec<f64>,
}

impl Instance {
    pub fn new(means: Vec<f64>, reward_model: RewardModel) -> Self {
        let best_mean = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let gaps = means.iter().map(|m| best_mean - m).collect();
        Instance { means, reward_model, best_mean, gaps }
    }

    pub fn arms(&self) -> usize {
        self.means.len()
    }

    /// The smallest positive gap, or `None` when every arm is optimal.
    pub fn min_gap(&self) -> Option<f64> {
        self.gaps.iter().copied().filter(|&g| g > 0.0).fold(None, |acc, g| {
            Some(match acc {
                Some(a) if a <= g => a,
                _ => g,
            })
        })
    }

    /// Whether `arm` is optimal (several arms are when means tie).
    pub fn is_optimal(&self, arm: usize) -> bool {
        self.gaps[arm] == 0.0
    }

    /// Arm indices ordered by mean, best first (ties by index).
    pub fn rank_order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.arms()).collect();
        idx.sort_by(|&a, &b| self.means[b].total_cmp(&self.means[a]).then(a.cmp(&b)));
        idx
    }
}

/// The step contract used by the run harness: pull an arm, get a reward.
pub trait Environment {
    fn pull(&mut self, arm: usize, rng: &mut Stream) -> f64;
    /// The step's reward of every arm into `all`, from the same single draw [`Environment::pull`]
    /// makes (full information); returns `arm`'s.
    fn pull_all(&mut self, arm: usize, rng: &mut Stream, all: &mut [f64]) -> f64;
}

/// Bernoulli arms; one uniform per step whatever the arm (common random numbers).
pub struct BernoulliEnv<'a> {
    pub means: &'a [f64],
}

impl Environment for BernoulliEnv<'_> {
    #[inline(always)]
    fn pull(&mut self, arm: usize, rng: &mut Stream) -> f64 {
        let u = rng::uniform(rng);
        if u < self.means[arm] { 1.0 } else { 0.0 }
    }
    fn pull_all(&mut self, arm: usize, rng: &mut Stream, all: &mut [f64]) -> f64 {
        let u = rng::uniform(rng);
        for (r, &m) in all.iter_mut().zip(self.means) {
            *r = if u < m { 1.0 } else { 0.0 };
        }
        all[arm]
    }
}

/// Gaussian arms; one standard normal per step whatever the arm (common random numbers).
pub struct GaussianEnv<'a> {
    pub means: &'a [f64],
    pub sigmas: &'a [f64],
}

impl Environment for GaussianEnv<'_> {
    #[inline(always)]
    fn pull(&mut self, arm: usize, rng: &mut Stream) -> f64 {
        let z: f64 = rand_distr::StandardNormal.sample(rng);
        self.means[arm] + self.sigmas[arm] * z
    }
    fn pull_all(&mut self, arm: usize, rng: &mut Stream, all: &mut [f64]) -> f64 {
        let z: f64 = rand_distr::StandardNormal.sample(rng);
        for ((r, &m), &s) in all.iter_mut().zip(self.means).zip(self.sigmas) {
            *r = m + s * z;
        }
        all[arm]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: EnvKind, shuffle: bool) -> EnvSpec {
        EnvSpec { label: "e".into(), shuffle, ..EnvSpec::new(kind) }
    }

    #[test]
    fn shuffle_is_a_permutation_and_seed_dependent() {
        let means: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).collect();
        let s = spec(EnvKind::Bernoulli { means: means.clone() }, true);
        let a = s.instantiate(7, 0);
        let b = s.instantiate(7, 1);
        let mut sorted = a.means.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, means);
        assert_ne!(a.means, b.means);
        assert_eq!(a, s.instantiate(7, 0));
        let fixed = EnvSpec { instance_seed: Some(3), ..s.clone() };
        assert_eq!(fixed.instantiate(7, 0), fixed.instantiate(9, 5));
        assert!(fixed.fixed_instance() && !s.fixed_instance());
        let plain = EnvSpec { shuffle: false, ..s.clone() };
        assert!(plain.fixed_instance());
        let drawn = spec(EnvKind::Preset { preset: EnvPreset::GaussianEasy, arms: 3 }, false);
        assert!(!drawn.fixed_instance());
        assert_ne!(drawn.instantiate(7, 0), drawn.instantiate(7, 1));
    }

    #[test]
    fn unshuffled_keeps_order_and_gaps_are_exact() {
        let s = spec(EnvKind::Bernoulli { means: vec![0.1, 0.7, 0.4] }, false);
        let inst = s.instantiate(1, 0);
        assert_eq!(inst.means, vec![0.1, 0.7, 0.4]);
        assert_eq!(inst.best_mean, 0.7);
        assert!((inst.gaps[0] - 0.6).abs() < 1e-15 && inst.gaps[1] == 0.0);
        assert!((inst.min_gap().unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(inst.rank_order(), vec![1, 2, 0]);
    }

    #[test]
    fn bernoulli_rewards_have_the_stated_mean() {
        let means = [0.2, 0.9];
        let mut env = BernoulliEnv { means: &means };
        let mut rng = rng::stream(1, Role::Reward, &["x"], 0);
        let n = 100_000;
        let s: f64 = (0..n).map(|_| env.pull(1, &mut rng)).sum();
        // sd of the mean = sqrt(0.09/1e5) ≈ 9.5e-4; allow 5 sd.
        assert!((s / n as f64 - 0.9).abs() < 5e-3);
    }

    #[test]
    fn gaussian_rewards_have_the_stated_mean_and_sd() {
        let means = [1.0, -2.0];
        let sigmas = [0.5, 3.0];
        let mut env = GaussianEnv { means: &means, sigmas: &sigmas };
        let mut rng = rng::stream(1, Role::Reward, &["x"], 0);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| env.pull(1, &mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64;
        // sd of the mean = 3/sqrt(1e5) ≈ 0.0095; sd of the variance ≈ 9·sqrt(2/1e5) ≈ 0.04.
        assert!((m + 2.0).abs() < 0.05, "{m}");
        assert!((v - 9.0).abs() < 0.2, "{v}");
    }

    #[test]
    fn identity_ignores_label_and_horizon() {
        let a = spec(EnvKind::Preset { preset: EnvPreset::BernoulliHard, arms: 5 }, true);
        let b = EnvSpec { label: "other".into(), horizon: Some(10), ..a.clone() };
        assert_eq!(a.identity(), b.identity());
        let c = EnvSpec { shuffle: false, ..a.clone() };
        assert_ne!(a.identity(), c.identity());
    }
}
