//! Structured bandit families: environments whose rewards depend on more than a fixed mean per
//! arm — on the learner's own past plays (weighted tallying, recharging), on hidden Markov
//! chains (restless), on a constraint the learner must keep (conservative), on a continuum of
//! arms (Lipschitz) or on resources that run out (bandits with knapsacks).
//!
//! Each family lives in its own module and implements [`FamilyEnv`]: it parses its `[[env]]`
//! table, draws its instance, computes its benchmark exactly (a brute-force or dynamic-programming
//! oracle, an LP value, or the best arm) and runs a policy against it, returning an [`Outcome`].
//! The harness turns that into an ordinary run record, so every family goes through
//! `armada run`, the summary, the win-rates and the report like any other environment. What the
//! family's regret is measured against is named by [`FamilyEnv::regret_name`] and shown in the
//! output; numbers only this family has (constraint violations, active arms, the step a budget
//! ran out) are [`Measure`]s.
//!
//! A family's own policies are declared in its `POLICIES` slice (they appear in the registry
//! next to the classic ones, see [`crate::policy::find_policy`]) and are only accepted on that
//! family's environments; [`FamilyEnv::accepts`] decides which classic policies may also play.

pub mod conservative;
pub mod knapsack;
pub mod lipschitz;
pub mod recharging;
pub mod restless;
pub mod tallying;

use crate::policy::{PolicyDef, PolicySpec};
use crate::rng::{self, Role, Stream};
use std::fmt;
use std::sync::Arc;
use toml::{Table, Value};

/// One structured environment, as written in a spec and validated.
pub trait FamilyEnv: Send + Sync + fmt::Debug {
    /// The `kind` word in the spec (`kind = "tallying"`).
    fn kind(&self) -> &'static str;
    /// The number of arms policies choose among (for a continuum, the arms of its finest grid
    /// is not meaningful: return the number of arms the family reports pulls for, or 0).
    fn arms(&self) -> usize;
    /// Canonical description of everything that changes the instance or the rewards (not the
    /// label, not the horizon). Seeds the environment's random streams.
    fn identity(&self) -> String;
    /// A short automatic label, e.g. `tallying-k5-m5`.
    fn default_label(&self) -> String;
    /// The reward model as shown in tables, e.g. "bernoulli losses, tally-dependent".
    fn reward_name(&self) -> String;
    /// What regret is measured against, e.g. "complete policy regret (vs the best action
    /// sequence, by dynamic programming)".
    fn regret_name(&self) -> String;
    /// Writes the family's own keys into `t` (the caller writes name, kind and horizon), so
    /// that parsing `t` again gives an equal environment.
    fn write_toml(&self, t: &mut Table);
    /// Whether `policy` may play on this environment; the error says why not and what to use.
    fn accepts(&self, policy: &PolicyDef) -> Result<(), String>;
    /// Whether every seed index plays the same instance (only the noise differs). Families
    /// that draw an instance per seed index (e.g. a random peak) say false.
    fn same_instance(&self) -> bool {
        true
    }
    /// Checks, when the spec is read, what depends on the policy or the horizon together with
    /// the environment (an exact oracle whose cost grows with the horizon, a policy parameter
    /// too large for this instance). The error says what to change.
    fn check_run(&self, _policy: &PolicySpec, _horizon: u64) -> Result<(), String> {
        Ok(())
    }
    /// Runs `policy` (already accepted and checked) for one run.
    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome;
}

/// The fixed inputs of one run on a family environment.
#[derive(Clone, Copy, Debug)]
pub struct FamilyRun<'a> {
    pub master_seed: u64,
    /// The environment's identity ([`FamilyEnv::identity`] plus the spec-level parts).
    pub env_id: &'a str,
    /// The policy's identity.
    pub policy_id: &'a str,
    pub seed_index: u64,
    pub horizon: u64,
    /// Step counts at which the outcome's curves are recorded: increasing, the last is the
    /// horizon.
    pub checkpoints: &'a [u64],
}

impl FamilyRun<'_> {
    /// The run's stream for `role`: environment-only identity for [`Role::Instance`] and
    /// [`Role::Reward`] (so every policy on a seed index faces the same instance and noise),
    /// environment and policy for the others.
    pub fn stream(&self, role: Role) -> Stream {
        match role {
            Role::Instance | Role::Reward => rng::stream(self.master_seed, role, &[self.env_id], self.seed_index),
            _ => rng::stream(self.master_seed, role, &[self.env_id, self.policy_id], self.seed_index),
        }
    }

    /// A stream shared by every seed index (an instance pinned by `instance_seed`, or drawn once).
    pub fn shared_stream(&self, role: Role, seed: u64) -> Stream {
        rng::stream(seed, role, &[self.env_id], 0)
    }
}

/// What one run on a family environment measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Regret against the family's benchmark after each checkpoint: the benchmark's cumulative
    /// expected reward minus the policy's, both exact.
    pub regret: Vec<f64>,
    /// Realised cumulative reward.
    pub reward: f64,
    /// At each checkpoint: K × (fewest pulls of any arm) / t. Empty when the family has no
    /// finite arm set.
    pub min_frac: Vec<f64>,
    /// At each checkpoint: the share of steps on which the policy took an action the benchmark
    /// would take (the family's docs say which). Empty when not defined.
    pub opt_frac: Vec<f64>,
    /// Pulls per arm, arms ranked best first by the family's own order; `arms()` entries.
    pub pulls_by_rank: Vec<u64>,
    /// Numbers only this family has, in a fixed order.
    pub measures: Vec<Measure>,
}

/// A named number a family reports per run (aggregated as mean ± CI over seeds).
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    /// Lower-case words with dashes, e.g. `violations`, `active-arms-near-optimum`.
    pub name: &'static str,
    pub value: f64,
}

/// The environment of a spec `[[env]]` table of a family kind, behind a shared pointer.
#[derive(Clone)]
pub struct Family(pub Arc<dyn FamilyEnv>);

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Family {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.identity() == other.0.identity()
    }
}

/// A family's entry in the kind registry: its spec word, its keys, and its parser.
pub struct FamilyKind {
    pub kind: &'static str,
    /// Keys the family's `[[env]]` table may have besides name, kind and horizon.
    pub keys: &'static [&'static str],
    pub parse: fn(&Fields) -> Result<Arc<dyn FamilyEnv>, FieldError>,
    /// The family's own policies.
    pub policies: &'static [PolicyDef],
}

/// Every family kind.
pub const KINDS: &[FamilyKind] =
    &[tallying::KIND, recharging::KIND, restless::KIND, conservative::KIND, lipschitz::KIND, knapsack::KIND];

/// The family kind with spec word `kind`.
pub fn find_kind(kind: &str) -> Option<&'static FamilyKind> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The family whose own policy `def` is, if any.
pub fn family_of_policy(def: &PolicyDef) -> Option<&'static str> {
    KINDS.iter().find(|k| k.policies.iter().any(|p| p.name == def.name)).map(|k| k.kind)
}

/// The usual [`FamilyEnv::accepts`]: the family's own policies and the classic (non-contextual,
/// bandit-feedback) ones; nothing from another family.
pub fn accept_own_and_classic(kind: &'static str, def: &PolicyDef) -> Result<(), String> {
    match family_of_policy(def) {
        Some(k) if k == kind => Ok(()),
        Some(k) => Err(format!("{} plays {k} environments only", def.name)),
        None if def.contextual => Err(format!("{} needs a context; {kind} environments show none", def.name)),
        None if def.full_information() => {
            Err(format!("{} needs every arm's reward; {kind} environments give the pulled arm's only", def.name))
        }
        None => Ok(()),
    }
}

/// An error in a family's `[[env]]` table: the key (relative to the table) and the message.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The key, e.g. `weights` or `payoffs[2].rate`; empty for the table as a whole.
    pub key: String,
    pub message: String,
}

impl FieldError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { key: key.into(), message: message.into() }
    }
}

/// Typed reads of a family's `[[env]]` table; errors name the key and say what is expected.
pub struct Fields<'a> {
    pub table: &'a Table,
}

impl<'a> Fields<'a> {
    pub fn new(table: &'a Table) -> Self {
        Fields { table }
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// A number (integer or float), finite.
    pub fn number(&self, key: &str) -> Result<Option<f64>, FieldError> {
        self.table.get(key).map(|v| number(v, key)).transpose()
    }

    /// A number in `[lo, hi]`.
    pub fn number_in(&self, key: &str, lo: f64, hi: f64) -> Result<Option<f64>, FieldError> {
        match self.number(key)? {
            Some(x) if !(lo..=hi).contains(&x) => {
                Err(FieldError::new(key, format!("must be in [{lo}, {hi}], got {x}")))
            }
            other => Ok(other),
        }
    }

    /// A non-negative integer at least `min`.
    pub fn count(&self, key: &str, min: u64) -> Result<Option<u64>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if *i >= 0 && *i as u64 >= min => Ok(Some(*i as u64)),
            Some(Value::Integer(i)) => Err(FieldError::new(key, format!("must be an integer ≥ {min}, got {i}"))),
            Some(other) => Err(FieldError::new(key, format!("must be an integer ≥ {min}, got {other}"))),
        }
    }

    /// A list of finite numbers.
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => {
                a.iter().enumerate().map(|(i, v)| number(v, &format!("{key}[{i}]"))).collect::<Result<_, _>>().map(Some)
            }
            Some(other) => Err(FieldError::new(key, format!("must be a list of numbers, got {other}"))),
        }
    }

    /// A list of lists of numbers (a matrix by rows).
    pub fn rows(&self, key: &str) -> Result<Option<Vec<Vec<f64>>>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, row)| match row {
                    Value::Array(r) => {
                        r.iter().enumerate().map(|(j, v)| number(v, &format!("{key}[{i}][{j}]"))).collect()
                    }
                    other => {
                        Err(FieldError::new(format!("{key}[{i}]"), format!("must be a list of numbers, got {other}")))
                    }
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => Err(FieldError::new(key, format!("must be a list of lists of numbers, got {other}"))),
        }
    }

    /// One of `words`.
    pub fn word(&self, key: &str, words: &[&'static str]) -> Result<Option<&'static str>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => match words.iter().find(|w| **w == s.as_str()) {
                Some(w) => Ok(Some(w)),
                None => Err(FieldError::new(key, format!("unknown value \"{s}\"; valid: {}", words.join(", ")))),
            },
            Some(other) => Err(FieldError::new(key, format!("must be one of {}, got {other}", words.join(", ")))),
        }
    }

    /// A boolean.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(FieldError::new(key, format!("must be true or false, got {other}"))),
        }
    }

    /// A seed: a non-negative integer.
    pub fn seed(&self, key: &str) -> Result<Option<u64>, FieldError> {
        self.count(key, 0)
    }

    /// A required value: `Err` naming `key` with `what` when it is missing.
    pub fn require<T>(&self, key: &str, value: Option<T>, what: &str) -> Result<T, FieldError> {
        value.ok_or_else(|| FieldError::new(key, format!("missing; {what}")))
    }
}

/// A number read from a TOML value (integer or float, finite); errors name `key`.
pub fn number(v: &Value, key: &str) -> Result<f64, FieldError> {
    let x = match v {
        Value::Integer(i) => *i as f64,
        Value::Float(f) => *f,
        other => return Err(FieldError::new(key, format!("must be a number, got {other}"))),
    };
    if x.is_finite() { Ok(x) } else { Err(FieldError::new(key, format!("must be finite, got {x}"))) }
}

/// A TOML list of floats (for [`FamilyEnv::write_toml`]).
pub fn floats(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|&x| Value::Float(x)).collect())
}

/// A TOML integer (for [`FamilyEnv::write_toml`]); values beyond i64 are clamped.
pub fn int(x: u64) -> Value {
    Value::Integer(i64::try_from(x).unwrap_or(i64::MAX))
}

/// A canonical list of numbers for identities: `[0.1,0.2]`.
pub fn fmt_list(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!("[{}]", parts.join(","))
}

/// Records curves at checkpoints for a family with a finite arm set: counts pulls, the
/// benchmark's and the policy's cumulative expected reward, and steps on which the policy did
/// what the benchmark would.
#[derive(Clone, Debug)]
pub struct Tracker {
    pub counts: Vec<u64>,
    /// Σ the benchmark's expected reward so far.
    pub benchmark: f64,
    /// Σ the policy's expected reward so far.
    pub collected: f64,
    /// Σ realised reward so far.
    pub reward: f64,
    /// Steps on which the policy's action was one the benchmark would take.
    pub optimal: u64,
    pub t: u64,
    next: usize,
    regret: Vec<f64>,
    min_frac: Vec<f64>,
    opt_frac: Vec<f64>,
}

impl Tracker {
    pub fn new(arms: usize, checkpoints: usize) -> Self {
        Tracker {
            counts: vec![0; arms],
            benchmark: 0.0,
            collected: 0.0,
            reward: 0.0,
            optimal: 0,
            t: 0,
            next: 0,
            regret: Vec::with_capacity(checkpoints),
            min_frac: Vec::with_capacity(checkpoints),
            opt_frac: Vec::with_capacity(checkpoints),
        }
    }

    /// Accounts one step in which `arm` was pulled: its expected reward `mean`, realised
    /// `reward`, the benchmark's expected reward this step `bench`, and whether the action was
    /// one the benchmark would take. Records a checkpoint when one is due.
    #[inline]
    pub fn step(&mut self, arm: usize, mean: f64, reward: f64, bench: f64, optimal: bool, checkpoints: &[u64]) {
        self.counts[arm] += 1;
        self.account(mean, reward, bench, optimal, checkpoints);
    }

    /// Like [`Tracker::step`] for a step whose action is not a single arm (pulls already counted
    /// by the caller in `counts`, or none).
    #[inline]
    pub fn account(&mut self, mean: f64, reward: f64, bench: f64, optimal: bool, checkpoints: &[u64]) {
        self.collected += mean;
        self.reward += reward;
        self.benchmark += bench;
        self.optimal += u64::from(optimal);
        self.t += 1;
        if self.next < checkpoints.len() && checkpoints[self.next] == self.t {
            self.checkpoint();
        }
    }

    /// Records the checkpoint due at the current step.
    fn checkpoint(&mut self) {
        let tf = self.t.max(1) as f64;
        let min_n = self.counts.iter().copied().min().unwrap_or(0);
        self.regret.push(self.benchmark - self.collected);
        self.min_frac.push(self.counts.len() as f64 * min_n as f64 / tf);
        self.opt_frac.push(self.optimal as f64 / tf);
        self.next += 1;
    }

    /// The outcome, arms ranked by `rank` (best first). If the run stopped before the horizon
    /// (a budget ran out), the steps not played earn nothing while the benchmark keeps earning
    /// `benchmark_per_step` each: the checkpoints not reached record that growing regret, and
    /// MinFrac/OptFrac keep their values at the stop.
    pub fn finish(
        mut self,
        rank: &[usize],
        checkpoints: &[u64],
        benchmark_per_step: f64,
        measures: Vec<Measure>,
    ) -> Outcome {
        let stopped = self.t;
        let tf = stopped.max(1) as f64;
        let min_n = self.counts.iter().copied().min().unwrap_or(0);
        let at_stop = (self.counts.len() as f64 * min_n as f64 / tf, self.optimal as f64 / tf);
        for &c in &checkpoints[self.next.min(checkpoints.len())..] {
            let owed = benchmark_per_step * (c - stopped.min(c)) as f64;
            self.regret.push(self.benchmark + owed - self.collected);
            self.min_frac.push(at_stop.0);
            self.opt_frac.push(at_stop.1);
        }
        Outcome {
            pulls_by_rank: rank.iter().map(|&a| self.counts[a]).collect(),
            regret: self.regret,
            reward: self.reward,
            min_frac: self.min_frac,
            opt_frac: self.opt_frac,
            measures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::POLICIES;

    #[test]
    fn policy_names_are_unique_across_the_registry_and_every_family() {
        let all: Vec<&PolicyDef> = POLICIES.iter().chain(KINDS.iter().flat_map(|k| k.policies)).collect();
        for (i, d) in all.iter().enumerate() {
            assert!(all[i + 1..].iter().all(|e| e.name != d.name), "two policies are named {}", d.name);
            assert_eq!(crate::policy::find_policy(d.name).map(|f| f.name), Some(d.name));
        }
        for k in KINDS {
            assert_eq!(find_kind(k.kind).map(|f| f.kind), Some(k.kind));
            for p in k.policies {
                assert_eq!(family_of_policy(p), Some(k.kind), "{}", p.name);
                assert!(!p.contextual, "{} is a family policy marked contextual", p.name);
            }
        }
    }

    #[test]
    fn classic_policies_are_accepted_unless_they_need_a_context_or_every_reward() {
        let find = |n: &str| crate::policy::find_policy(n).unwrap();
        assert!(accept_own_and_classic("tallying", find("ucb1")).is_ok());
        assert!(accept_own_and_classic("tallying", find("block-se")).is_ok());
        assert!(accept_own_and_classic("tallying", find("linucb")).unwrap_err().contains("context"));
        assert!(accept_own_and_classic("tallying", find("hedge")).unwrap_err().contains("every arm"));
        assert!(accept_own_and_classic("tallying", find("zooming")).unwrap_err().contains("lipschitz"));
    }

    #[test]
    fn tracker_fills_unreached_checkpoints_with_the_remaining_benchmark() {
        let cps = [1, 2, 4, 8];
        let mut t = Tracker::new(2, cps.len());
        for _ in 0..3 {
            t.step(0, 0.5, 1.0, 1.0, false, &cps);
        }
        // Stopped after 3 of 8 steps: the benchmark earns 1.0 per step on, the policy nothing.
        let out = t.finish(&[0, 1], &cps, 1.0, Vec::new());
        assert_eq!(out.regret, vec![0.5, 1.0, 2.5, 6.5]);
        assert_eq!(out.opt_frac, vec![0.0; 4]);
        assert_eq!(out.pulls_by_rank, vec![3, 0]);
        assert_eq!(out.reward, 3.0);
    }
}
