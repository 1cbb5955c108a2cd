//! Agents: decision-makers defined outside the core (LLM agents live in `armada-llm`) that run
//! in the same harness, on the same environments and seeds, measured by the same metrics.
//!
//! A built-in policy is a closed enum dispatched once per run; an agent is a trait object called
//! once per step, because its steps cost milliseconds (a model call), not nanoseconds. Unlike a
//! policy an agent may fail (a provider that stays down), and it may forfeit a step (no arm
//! played). The spec parser does not know agents: a front end registers an [`AgentParser`] that
//! claims some `[[policy]]` names and turns their tables into an [`AgentFactory`], which builds
//! one [`Agent`] per run.

use crate::env::contextual::Context;
use crate::env::{ContextualInstance, EnvSpec, RewardModel};
use crate::rng::{self, Role, Stream};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an agent is told when its run starts.
pub struct AgentRun<'a> {
    pub env: &'a EnvSpec,
    /// The environment's identity (as in the random streams).
    pub env_id: &'a str,
    /// The agent's identity (its factory's [`AgentFactory::identity`]).
    pub policy_id: &'a str,
    pub master_seed: u64,
    pub seed_index: u64,
    pub arms: usize,
    pub horizon: u64,
    /// What the rewards look like, for putting them into words.
    pub rewards: RewardKind,
    /// The reward model a built-in policy in this run would be told (for teacher policies).
    pub reward_model: RewardModel,
    /// The contextual world of this run (MovieLens titles and users, the context dimension),
    /// when the environment has contexts.
    pub world: Option<&'a ContextualInstance>,
}

impl AgentRun<'_> {
    /// A stream for one of the agent's roles, derived like every other stream from the master
    /// seed, the run's identity and the seed index. `Role::Policy` gives the stream a built-in
    /// policy in this run would get.
    pub fn stream(&self, role: Role) -> Stream {
        rng::stream(self.master_seed, role, &[self.env_id, self.policy_id], self.seed_index)
    }

    /// A stream shared by every agent on this environment and seed index (so two agents see,
    /// say, the same arm names), distinguished by `topic`.
    pub fn shared_stream(&self, topic: &str) -> Stream {
        rng::stream(self.master_seed, Role::Scenario, &[self.env_id, topic], self.seed_index)
    }
}

/// The shape of an environment's rewards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RewardKind {
    /// 0 or 1 (or a probability-valued reward in [0, 1]).
    Bernoulli,
    /// Real-valued with Gaussian noise of this standard deviation (per-arm σ: the largest).
    Gaussian { sigma: f64 },
    /// Real-valued, from a contextual model.
    Real,
}

/// An agent's decision for one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Pull this arm.
    Arm(usize),
    /// Play nothing this step: no arm is pulled and the step pays the forfeit reward.
    Forfeit,
}

/// A decision-maker called once per step.
pub trait Agent: Send {
    /// Chooses what to do at step `t` (counted from 0), given the context on contextual
    /// environments. An error ends the run (after the agent's own retries and fallbacks).
    fn act(&mut self, t: u64, context: Option<&Context>) -> Result<Decision, String>;
    /// Observes the outcome of the step just decided: the arm pulled (None when forfeited) and
    /// the reward paid.
    fn observe(&mut self, arm: Option<usize>, reward: f64);
    /// The reward a forfeited step pays (its expected reward for regret, too).
    fn forfeit_reward(&self) -> f64 {
        0.0
    }
    /// What the agent counted so far.
    fn stats(&self) -> AgentStats;
}

/// Builds one [`Agent`] per run; one factory per `[[policy]]` table.
pub trait AgentFactory: Send + Sync + fmt::Debug {
    /// The canonical description that seeds the agent's streams and names it in results:
    /// everything that changes its decisions, nothing that does not (not a cache directory,
    /// not a timeout).
    fn identity(&self) -> String;
    /// Whether the agent needs a contextual environment.
    fn contextual(&self) -> bool {
        false
    }
    /// Checks the agent can run on `env` (e.g. no replay evaluation); the message says why not.
    fn check_env(&self, env: &EnvSpec) -> Result<(), String> {
        let _ = env;
        Ok(())
    }
    /// The `[[policy]]` table with every default filled in (without `label`), for `spec.toml`.
    fn to_toml(&self) -> toml::Table;
    /// A fresh agent for one run.
    fn build(&self, run: &AgentRun<'_>) -> Result<Box<dyn Agent>, String>;
    /// The factory as `Any`, so its crate can recover its own type.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Claims `[[policy]]` tables by name and parses them into factories.
pub trait AgentParser: Sync {
    /// The policy names this parser claims, with a one-line summary each (for listings and
    /// error messages).
    fn names(&self) -> Vec<(&'static str, &'static str)>;
    /// Parses the table of a claimed name. `path` is the table's field path (`policy[3]`); an
    /// error is `(field, message)`, the field relative to the table (e.g. `"temperature"`) or
    /// empty for the table itself.
    fn parse(&self, name: &str, table: &toml::Table) -> Result<std::sync::Arc<dyn AgentFactory>, (String, String)>;
}

/// What an agent counted over one run. Every counter is a sum, so runs add up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentStats {
    /// Steps decided.
    pub decisions: u64,
    /// Answers that named no arm (first answers and re-asks alike).
    pub invalid_answers: u64,
    /// Decisions whose first answer was invalid.
    pub invalid_decisions: u64,
    /// Extra questions asked after an invalid answer.
    pub reasks: u64,
    /// Steps decided by the fallback (a uniformly random arm).
    pub fallbacks: u64,
    /// Steps forfeited.
    pub forfeits: u64,
    /// Model calls answered (by the model or from the cache).
    pub calls: u64,
    /// Calls answered from the response cache.
    pub cache_hits: u64,
    /// Attempts retried after a transient failure.
    pub retries: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Total prompt length in characters over all calls.
    pub prompt_chars: u64,
    /// Longest prompt, in characters.
    pub max_prompt_chars: u64,
    /// Cost at the configured prices.
    pub cost: f64,
    /// Wall time spent in model calls that were not cached, in seconds.
    pub latency_s: f64,
}

impl AgentStats {
    /// Adds `other`'s counters to these (maxima for maxima).
    pub fn add(&mut self, other: &AgentStats) {
        self.decisions += other.decisions;
        self.invalid_answers += other.invalid_answers;
        self.invalid_decisions += other.invalid_decisions;
        self.reasks += other.reasks;
        self.fallbacks += other.fallbacks;
        self.forfeits += other.forfeits;
        self.calls += other.calls;
        self.cache_hits += other.cache_hits;
        self.retries += other.retries;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.prompt_chars += other.prompt_chars;
        self.max_prompt_chars = self.max_prompt_chars.max(other.max_prompt_chars);
        self.cost += other.cost;
        self.latency_s += other.latency_s;
    }
}
