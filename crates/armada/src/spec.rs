//! Experiment specs: the TOML file a user writes, validated into an [`Experiment`], and the
//! filled-in TOML written next to results so a run can be repeated exactly.
//!
//! Validation happens here, once, with errors that name the source, the field (e.g.
//! `env[2].sigma`) and what would be valid. Nothing in the rest of the engine re-checks user
//! input, and nothing panics on it.

use crate::data::MovieLens;
use crate::env::linear::{ContextDistribution, LinearReward, LinearSpec};
use crate::env::movielens::{Evaluation, MovieLensSettings, MovieLensSpec, MovieLensWorld, UserFeatures, UserSplit};
use crate::env::piecewise::{Drifting, Piecewise, PiecewiseReward, RegretNotion};
use crate::env::{EnvKind, EnvPreset, EnvSpec, Sigma, presets::ENV_PRESETS};
use crate::family;
use crate::harness::Experiment;
use crate::policy::params::type_name;
use crate::policy::{AgentParser, POLICIES, ParamDef, PolicySpec, find_policy};
use std::fmt;
use toml::{Table, Value};

/// A problem with a spec: where (source and field) and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecError {
    /// The file name, or `preset NAME`.
    pub source: String,
    /// The field path, e.g. `env[2].sigma`; empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.message)
        }
    }
}

impl std::error::Error for SpecError {}

/// Default number of log-spaced checkpoints.
pub const DEFAULT_CHECKPOINTS: usize = 50;
/// Default number of seeds (runs per environment × policy).
pub const DEFAULT_SEEDS: u64 = 30;

/// Upper bounds that keep a typo from asking for terabytes of records.
pub const MAX_SEEDS: u64 = 1_000_000;
pub const MAX_CHECKPOINTS: usize = 10_000;

const TOP_KEYS: &[&str] = &["name", "horizon", "seeds", "seed", "checkpoints", "env", "policy", "preset"];
const ENV_KEYS: &[&str] = &[
    "name",
    "preset",
    "kind",
    "arms",
    "means",
    "sigma",
    "sigmas",
    "shuffle",
    "instance_seed",
    "horizon",
    "features",
    "arm_features",
    "context",
    "reward",
    "data",
    "rank",
    "users",
    "train_users",
    "split_seed",
    "evaluation",
    "segments",
    "change_points",
    "regret",
    "period",
    "amplitude",
    "center",
    "scenario",
];
/// Keys that only contextual kinds take.
const CONTEXTUAL_KEYS: &[&str] = &[
    "features",
    "arm_features",
    "context",
    "reward",
    "data",
    "rank",
    "users",
    "train_users",
    "split_seed",
    "evaluation",
];
/// Keys of the MovieLens kind.
const MOVIELENS_KEYS: &[&str] =
    &["data", "arms", "rank", "context", "users", "train_users", "split_seed", "sigma", "evaluation"];
const ENV_KINDS: &[&str] = &["bernoulli", "gaussian", "linear", "movielens", "piecewise", "drifting"];
/// Largest context dimension a linear world may have (the policies cost O(d²) per arm per step).
pub const MAX_FEATURES: u64 = 1000;
/// Largest number of arms.
pub const MAX_ARMS: u64 = 1_000_000;
/// Largest arms × d² of a linear world (about 1 GiB per matrix a linear policy keeps per arm).
pub const MAX_MODEL_ENTRIES: u64 = 1 << 27;

/// The valid words of a choice and the function that reads one.
type Words<T> = (&'static [&'static str], fn(&str) -> Option<T>);

struct Ctx<'a> {
    source: &'a str,
    /// Datasets already loaded by this spec, by directory (one load per directory).
    datasets: std::cell::RefCell<Vec<(std::path::PathBuf, std::sync::Arc<MovieLens>)>>,
    /// Who parses the `[[policy]]` tables of agents.
    agents: Option<&'a dyn AgentParser>,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError { source: self.source.to_string(), field: field.into(), message: message.into() }
    }

    fn check_keys(&self, table: &Table, allowed: &[&str], path: &str, what: &str) -> Result<(), SpecError> {
        for key in table.keys() {
            if !allowed.contains(&key.as_str()) {
                let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                return Err(self.err(field, format!("unknown key in {what}; valid keys: {}", allowed.join(", "))));
            }
        }
        Ok(())
    }

    fn uint(&self, table: &Table, key: &str, path: &str, min: u64) -> Result<Option<u64>, SpecError> {
        let field = join(path, key);
        match table.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if *i >= 0 && *i as u64 >= min => Ok(Some(*i as u64)),
            Some(Value::Integer(i)) => Err(self.err(field, format!("must be a whole number >= {min}, got {i}"))),
            Some(v) => Err(self.err(field, format!("must be a whole number >= {min}, got {}", type_name(v)))),
        }
    }

    /// One of a fixed set of words (`names`, read by `parse`), or `default` when absent; the error
    /// says which `what` was unknown and lists the valid words.
    fn word<T>(
        &self,
        table: &Table,
        key: &str,
        path: &str,
        what: &str,
        (names, parse): Words<T>,
        default: T,
    ) -> Result<T, SpecError> {
        match self.string(table, key, path)? {
            None => Ok(default),
            Some(name) => parse(name).ok_or_else(|| {
                self.err(join(path, key), format!("unknown {what} \"{name}\"; valid: {}", names.join(", ")))
            }),
        }
    }

    /// A 64-bit seed: a whole number >= 0, or (above TOML's integer range, 2^63 - 1) its digits
    /// as a string, which is how [`to_toml`] writes such seeds.
    fn seed(&self, table: &Table, key: &str, path: &str) -> Result<Option<u64>, SpecError> {
        match table.get(key) {
            Some(Value::String(s)) => s.parse::<u64>().map(Some).map_err(|_| {
                self.err(join(path, key), format!("must be a whole number in 0..=18446744073709551615, got \"{s}\""))
            }),
            _ => self.uint(table, key, path, 0),
        }
    }

    fn string<'t>(&self, table: &'t Table, key: &str, path: &str) -> Result<Option<&'t str>, SpecError> {
        match table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(Value::String(_)) => Err(self.err(join(path, key), "must not be empty")),
            Some(v) => Err(self.err(join(path, key), format!("must be a string, got {}", type_name(v)))),
        }
    }

    fn boolean(&self, table: &Table, key: &str, path: &str) -> Result<Option<bool>, SpecError> {
        match table.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(join(path, key), format!("must be true or false, got {}", type_name(v)))),
        }
    }

    fn number(&self, v: &Value, field: &str) -> Result<f64, SpecError> {
        match v {
            Value::Float(x) if x.is_finite() => Ok(*x),
            Value::Integer(i) => Ok(*i as f64),
            Value::Float(x) => Err(self.err(field, format!("must be a finite number, got {x}"))),
            other => Err(self.err(field, format!("must be a number, got {}", type_name(other)))),
        }
    }

    fn numbers(&self, table: &Table, key: &str, path: &str) -> Result<Option<Vec<f64>>, SpecError> {
        let field = join(path, key);
        match table.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.number(v, &format!("{field}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(self.err(field, format!("must be an array of numbers, got {}", type_name(v)))),
        }
    }

    fn tables<'t>(&self, doc: &'t Table, key: &str) -> Result<Vec<&'t Table>, SpecError> {
        match doc.get(key) {
            None => Err(self.err(key, format!("at least one [[{key}]] table is required"))),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Table(t) => Ok(t),
                    other => Err(self.err(format!("{key}[{i}]"), format!("must be a table, got {}", type_name(other)))),
                })
                .collect(),
            Some(_) => Err(self.err(key, format!("must be one or more [[{key}]] tables"))),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

/// Parses and validates a spec. `source` names it in errors (usually the file path).
pub fn parse_spec(text: &str, source: &str) -> Result<Experiment, SpecError> {
    parse_spec_with(text, source, None)
}

/// [`parse_spec`], with `agents` claiming the `[[policy]]` names it knows (e.g. `llm`).
pub fn parse_spec_with(text: &str, source: &str, agents: Option<&dyn AgentParser>) -> Result<Experiment, SpecError> {
    let ctx = Ctx { source, datasets: Default::default(), agents };
    let doc: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ctx.err("", format!("invalid TOML: {}", e.to_string().trim_end())))?;
    // Policies the preset brings come before the spec's own (0 without a preset).
    let preset_policies = doc
        .get("preset")
        .and_then(Value::as_str)
        .and_then(|n| EXPERIMENT_PRESETS.iter().find(|p| p.name == n))
        .and_then(|p| p.toml.parse::<Table>().ok())
        .and_then(|t| t.get("policy").and_then(Value::as_array).map(Vec::len))
        .unwrap_or(0);
    let doc = with_preset(&ctx, doc)?;
    ctx.check_keys(&doc, TOP_KEYS, "", "the spec")?;
    let name = ctx.string(&doc, "name", "")?.unwrap_or("experiment").to_string();
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(ctx.err("name", "must not contain path separators (it names the output directory)"));
    }
    let horizon =
        ctx.uint(&doc, "horizon", "", 1)?.ok_or_else(|| ctx.err("horizon", "is required (steps per run, >= 1)"))?;
    let seeds = ctx.uint(&doc, "seeds", "", 1)?.unwrap_or(DEFAULT_SEEDS);
    if seeds > MAX_SEEDS {
        return Err(ctx.err(
            "seeds",
            format!("is {seeds}; at most {MAX_SEEDS} runs per environment × policy (split larger sweeps)"),
        ));
    }
    let seed = ctx.seed(&doc, "seed", "")?.unwrap_or(0);
    let checkpoints = ctx.uint(&doc, "checkpoints", "", 2)?.map(|c| c as usize).unwrap_or(DEFAULT_CHECKPOINTS);
    if checkpoints > MAX_CHECKPOINTS {
        return Err(ctx.err("checkpoints", format!("is {checkpoints}; at most {MAX_CHECKPOINTS}")));
    }
    let tables = ctx.tables(&doc, "env")?;
    let mut envs = tables.iter().enumerate().map(|(i, t)| parse_env(&ctx, t, i)).collect::<Result<Vec<_>, _>>()?;
    // Automatic labels that collide (e.g. two 2-arm Bernoulli bandits) get "#1", "#2", … in
    // spec order; explicit names must be unique.
    let auto: Vec<bool> = tables.iter().map(|t| !t.contains_key("name")).collect();
    let base: Vec<String> = envs.iter().map(|e| e.label.clone()).collect();
    for i in 0..envs.len() {
        let twins: Vec<usize> = (0..envs.len()).filter(|&j| auto[j] && base[j] == base[i]).collect();
        if auto[i] && twins.len() > 1 {
            let n = twins.iter().position(|&j| j == i).unwrap_or(0) + 1;
            envs[i].label = format!("{}#{n}", base[i]);
        }
    }
    for (i, e) in envs.iter().enumerate() {
        if let Some(j) = envs[..i].iter().position(|o| o.label == e.label) {
            return Err(ctx.err(
                format!("env[{i}]"),
                format!("has the same name \"{}\" as env[{j}]; give one of them a distinct `name = \"...\"`", e.label),
            ));
        }
    }
    let mut policies = ctx
        .tables(&doc, "policy")?
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            parse_policy(&ctx, t, i).map_err(|mut e| {
                if i >= preset_policies && preset_policies > 0 {
                    e.message.push_str(&format!(
                        " (the preset brings {preset_policies} policies first: this is your [[policy]] table number {})",
                        i - preset_policies + 1
                    ));
                }
                e
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Labels: the policy name unless two policies share it, then name(parameters).
    for i in 0..policies.len() {
        let (explicit, spec) = &policies[i];
        if explicit.is_none()
            && spec.agent.is_none()
            && policies.iter().filter(|(e, p)| e.is_none() && p.def.name == spec.def.name).count() > 1
        {
            let params: Vec<String> =
                spec.def.params.iter().zip(&spec.params).map(|(d, v)| format!("{}={v}", d.name)).collect();
            policies[i].1.label = format!("{}({})", spec.def.name, params.join(","));
        }
    }
    let policies: Vec<PolicySpec> = policies.into_iter().map(|(_, p)| p).collect();
    for (i, p) in policies.iter().enumerate() {
        if let Some(j) = policies[..i].iter().position(|o| o.identity() == p.identity()) {
            return Err(ctx.err(
                format!("policy[{i}]"),
                format!(
                    "runs the same algorithm with the same parameters as policy[{j}] ({}); remove one",
                    p.identity()
                ),
            ));
        }
        if let Some(j) = policies[..i].iter().position(|o| o.label == p.label) {
            return Err(ctx.err(
                format!("policy[{i}]"),
                format!("has the same label \"{}\" as policy[{j}]; set a distinct `label = \"...\"`", p.label),
            ));
        }
    }
    for (i, p) in policies.iter().enumerate() {
        let Some(agent) = &p.agent else { continue };
        if let Some(j) = agent.contextual().then(|| envs.iter().position(|e| !e.is_contextual())).flatten() {
            return Err(ctx.err(
                format!("policy[{i}]"),
                format!("reads a context, but env[{j}] (\"{}\") has none; use a contextual environment", envs[j].label),
            ));
        }
        for (j, e) in envs.iter().enumerate() {
            agent.check_env(e).map_err(|m| ctx.err(format!("policy[{i}]"), format!("cannot run on env[{j}]: {m}")))?;
        }
    }
    for (i, p) in policies.iter().enumerate() {
        for (j, e) in envs.iter().enumerate() {
            let verdict = match (e.family(), family::family_of_policy(p.def)) {
                (Some(f), _) if p.agent.is_some() => {
                    Err(format!("agents do not play structured environments yet ({} is one)", f.kind()))
                }
                (Some(f), _) => f.accepts(p.def).and_then(|()| f.check_run(p, e.horizon.unwrap_or(horizon))),
                (None, Some(k)) => {
                    Err(format!("{} plays {k} environments only; use kind = \"{k}\" or a classic policy", p.def.name))
                }
                (None, None) => Ok(()),
            };
            verdict.map_err(|m| {
                ctx.err(format!("policy[{i}]"), format!("cannot run on env[{j}] (\"{}\"): {m}", e.label))
            })?;
        }
    }
    for (i, p) in policies.iter().enumerate() {
        if let Some(j) = p.def.full_information().then(|| envs.iter().position(|e| e.is_contextual())).flatten() {
            return Err(ctx.err(
                format!("policy[{i}]"),
                format!(
                    "{} learns from every arm's reward, which env[{j}] (\"{}\", contextual) does not give; use it on \
                     classic or piecewise environments, or use exp3 here",
                    p.def.name, envs[j].label
                ),
            ));
        }
        if let Some(j) = p.def.contextual.then(|| envs.iter().position(|e| !e.is_contextual())).flatten() {
            return Err(ctx.err(
                format!("policy[{i}]"),
                format!(
                    "{} reads a context, but env[{j}] (\"{}\") has none; use a contextual environment \
                     (kind = \"linear\" or \"movielens\") or put classic and contextual experiments in separate specs",
                    p.def.name, envs[j].label
                ),
            ));
        }
    }
    Ok(Experiment { name, horizon, seeds, seed, checkpoints, envs, policies })
}

/// A spec that starts from a built-in experiment (`preset = "evolve-mab"`): the preset's
/// environments and policies, the spec's top-level settings over the preset's, and the spec's
/// `[[policy]]` tables after the preset's (e.g. LLM agents for the preset's grid).
fn with_preset(ctx: &Ctx, doc: Table) -> Result<Table, SpecError> {
    let Some(value) = doc.get("preset") else { return Ok(doc) };
    let name = value.as_str().ok_or_else(|| ctx.err("preset", "must be the name of an experiment preset"))?;
    let preset = EXPERIMENT_PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = EXPERIMENT_PRESETS.iter().map(|p| p.name).collect();
        ctx.err("preset", format!("unknown experiment preset \"{name}\"; valid presets: {}", names.join(", ")))
    })?;
    if doc.contains_key("env") {
        return Err(ctx.err("env", format!("comes from preset \"{name}\"; remove the [[env]] tables or the preset")));
    }
    let mut base: Table =
        preset.toml.parse().map_err(|e| ctx.err("preset", format!("preset {name} is invalid: {e}")))?;
    for (key, value) in doc {
        match (key.as_str(), value) {
            ("preset", _) => {}
            ("policy", Value::Array(mut extra)) => match base.get_mut("policy") {
                Some(Value::Array(policies)) => policies.append(&mut extra),
                _ => {
                    base.insert(key, Value::Array(extra));
                }
            },
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    Ok(base)
}

fn parse_env(ctx: &Ctx, t: &Table, i: usize) -> Result<EnvSpec, SpecError> {
    let path = format!("env[{i}]");
    if let Some(family) = t.get("kind").and_then(Value::as_str).and_then(family::find_kind) {
        return parse_family(ctx, t, &path, family);
    }
    ctx.check_keys(t, ENV_KEYS, &path, "an [[env]] table")?;
    let preset = ctx.string(t, "preset", &path)?;
    let kind_name = ctx.string(t, "kind", &path)?;
    let arms = ctx.uint(t, "arms", &path, 2)?;
    let means = ctx.numbers(t, "means", &path)?;
    let sigma = match t.get("sigma") {
        Some(v) => Some(ctx.number(v, &join(&path, "sigma"))?),
        None => None,
    };
    let sigmas = ctx.numbers(t, "sigmas", &path)?;
    let kind = match (preset, kind_name) {
        (Some(_), Some(_)) => return Err(ctx.err(&path, "give either `preset` or `kind`, not both")),
        (None, None) => {
            return Err(ctx.err(
                &path,
                format!("needs `preset` (one of {}) or `kind` (one of {})", preset_names(), kind_names()),
            ));
        }
        (Some(p), None) => {
            let preset = EnvPreset::from_name(p).ok_or_else(|| {
                ctx.err(join(&path, "preset"), format!("unknown preset \"{p}\"; valid presets: {}", preset_names()))
            })?;
            for key in ["means", "sigma", "sigmas"].iter().chain(CONTEXTUAL_KEYS) {
                if t.contains_key(*key) {
                    return Err(ctx.err(join(&path, key), format!("is set by the preset {p}; remove it")));
                }
            }
            let arms =
                arms.ok_or_else(|| ctx.err(join(&path, "arms"), "is required with a preset (number of arms, >= 2)"))?;
            EnvKind::Preset { preset, arms: arms as usize }
        }
        (None, Some("linear")) => {
            for key in ["data", "rank", "users", "train_users", "split_seed", "evaluation"] {
                if t.contains_key(key) {
                    return Err(ctx.err(join(&path, key), "applies to kind = \"movielens\" only; remove it"));
                }
            }
            parse_linear(ctx, t, &path, arms, sigma)?
        }
        (None, Some("movielens")) => parse_movielens(ctx, t, &path, arms, sigma)?,
        (None, Some("piecewise")) => parse_piecewise(ctx, t, &path, arms, sigma)?,
        (None, Some("drifting")) => parse_drifting(ctx, t, &path, arms, sigma)?,
        (None, Some(k)) => {
            if let Some(key) = ["segments", "change_points", "regret", "period", "amplitude", "center"]
                .iter()
                .find(|key| t.contains_key(**key))
            {
                return Err(
                    ctx.err(join(&path, key), "applies to kind = \"piecewise\" or \"drifting\" only; remove it")
                );
            }
            if let Some(key) = CONTEXTUAL_KEYS.iter().find(|key| t.contains_key(**key)) {
                return Err(ctx.err(
                    join(&path, key),
                    "applies to contextual kinds only (kind = \"linear\" or \"movielens\"); remove it",
                ));
            }
            let means =
                means.ok_or_else(|| ctx.err(join(&path, "means"), "is required with `kind` (one mean per arm)"))?;
            if means.len() < 2 {
                return Err(ctx.err(join(&path, "means"), format!("needs at least 2 arms, got {}", means.len())));
            }
            if let Some(a) = arms
                && a as usize != means.len()
            {
                return Err(ctx.err(join(&path, "arms"), format!("is {a} but `means` lists {} arms", means.len())));
            }
            match k {
                "bernoulli" => {
                    for key in ["sigma", "sigmas"] {
                        if t.contains_key(key) {
                            return Err(ctx.err(join(&path, key), "does not apply to Bernoulli arms; remove it"));
                        }
                    }
                    if let Some((j, m)) = means.iter().enumerate().find(|(_, m)| !(0.0..=1.0).contains(*m)) {
                        return Err(ctx
                            .err(format!("{path}.means[{j}]"), format!("is {m}; a Bernoulli mean must be in [0, 1]")));
                    }
                    EnvKind::Bernoulli { means }
                }
                "gaussian" => {
                    let sigma = match (sigma, sigmas) {
                        (Some(_), Some(_)) => return Err(ctx.err(&path, "give either `sigma` or `sigmas`, not both")),
                        (None, None) => {
                            return Err(ctx.err(
                                join(&path, "sigma"),
                                "is required for Gaussian arms (one standard deviation, or `sigmas` per arm)",
                            ));
                        }
                        (Some(s), None) => {
                            if s <= 0.0 {
                                return Err(ctx.err(join(&path, "sigma"), format!("is {s}; it must be > 0")));
                            }
                            Sigma::Shared(s)
                        }
                        (None, Some(v)) => {
                            if v.len() != means.len() {
                                return Err(ctx.err(
                                    join(&path, "sigmas"),
                                    format!("lists {} values for {} arms; give one per arm", v.len(), means.len()),
                                ));
                            }
                            if let Some((j, s)) = v.iter().enumerate().find(|(_, s)| **s <= 0.0) {
                                return Err(ctx.err(format!("{path}.sigmas[{j}]"), format!("is {s}; it must be > 0")));
                            }
                            Sigma::PerArm(v)
                        }
                    };
                    EnvKind::Gaussian { means, sigma }
                }
                other => {
                    return Err(ctx
                        .err(join(&path, "kind"), format!("unknown kind \"{other}\"; valid kinds: {}", kind_names())));
                }
            }
        }
    };
    let is_preset = matches!(kind, EnvKind::Preset { .. });
    let shuffle = ctx.boolean(t, "shuffle", &path)?.unwrap_or(is_preset);
    if shuffle && kind_is_contextual(&kind) {
        return Err(ctx.err(join(&path, "shuffle"), "does not apply to a contextual environment; remove it"));
    }
    if shuffle && matches!(kind, EnvKind::Piecewise(_) | EnvKind::Drifting(_)) {
        return Err(ctx.err(
            join(&path, "shuffle"),
            "does not apply to a piecewise environment (write the segments in the order you want); remove it",
        ));
    }
    if matches!(kind, EnvKind::MovieLens(_)) && t.contains_key("instance_seed") {
        return Err(ctx.err(
            join(&path, "instance_seed"),
            "does not apply to MovieLens (its world is fixed by the data; `split_seed` shuffles the users); remove it",
        ));
    }
    let instance_seed = ctx.seed(t, "instance_seed", &path)?;
    let horizon = ctx.uint(t, "horizon", &path, 1)?;
    let label = match ctx.string(t, "name", &path)? {
        Some(n) => n.to_string(),
        None => EnvSpec::default_label(&kind),
    };
    let scenario = match ctx.string(t, "scenario", &path)? {
        Some(s) if s.trim().is_empty() => {
            return Err(ctx.err(join(&path, "scenario"), "must name a scenario (e.g. \"videos\") or a scenario file"));
        }
        s => s.map(str::to_string),
    };
    Ok(EnvSpec { label, kind, shuffle, instance_seed, horizon, scenario })
}

/// The `kind = "linear"` world: arms, features, arm_features, context, reward, sigma.
fn parse_linear(ctx: &Ctx, t: &Table, path: &str, arms: Option<u64>, sigma: Option<f64>) -> Result<EnvKind, SpecError> {
    for key in ["means", "sigmas"] {
        if t.contains_key(key) {
            return Err(ctx.err(
                join(path, key),
                "does not apply to a linear world (its means depend on the context); remove it",
            ));
        }
    }
    let arms =
        arms.ok_or_else(|| ctx.err(join(path, "arms"), "is required for a linear world (number of arms, >= 2)"))?;
    if arms > MAX_ARMS {
        return Err(ctx.err(join(path, "arms"), format!("is {arms}; at most {MAX_ARMS}")));
    }
    let features = ctx.uint(t, "features", path, 0)?.ok_or_else(|| {
        ctx.err(join(path, "features"), "is required for a linear world (dimension of the shared context)")
    })?;
    let arm_features = ctx.uint(t, "arm_features", path, 0)?.unwrap_or(0);
    if features + arm_features == 0 {
        return Err(
            ctx.err(join(path, "features"), "and arm_features are both 0; give the context at least one feature")
        );
    }
    for (key, v) in [("features", features), ("arm_features", arm_features)] {
        if v > MAX_FEATURES {
            return Err(ctx.err(join(path, key), format!("is {v}; at most {MAX_FEATURES}")));
        }
    }
    // A linear policy keeps two d × d matrices per arm (d = features + arm_features).
    let joint = features + arm_features;
    if arms.saturating_mul(joint * joint) > MAX_MODEL_ENTRIES {
        return Err(ctx.err(
            join(path, "arms"),
            format!(
                "{arms} arms × ({joint} features)² is more than {MAX_MODEL_ENTRIES} matrix entries per linear policy; \
                 use fewer arms or features"
            ),
        ));
    }
    let context = ctx.word(
        t,
        "context",
        path,
        "context distribution",
        (ContextDistribution::NAMES, ContextDistribution::from_name),
        ContextDistribution::Gaussian,
    )?;
    let reward = match ctx.string(t, "reward", path)?.unwrap_or("gaussian") {
        "gaussian" => {
            let sigma = sigma.unwrap_or(DEFAULT_LINEAR_SIGMA);
            if sigma < 0.0 {
                return Err(ctx.err(join(path, "sigma"), format!("is {sigma}; it must be >= 0")));
            }
            LinearReward::Gaussian { sigma }
        }
        "logistic" => {
            if sigma.is_some() {
                return Err(
                    ctx.err(join(path, "sigma"), "does not apply to logistic rewards (they are 0 or 1); remove it")
                );
            }
            LinearReward::Logistic
        }
        other => {
            return Err(ctx.err(
                join(path, "reward"),
                format!("unknown reward model \"{other}\"; valid: gaussian (score + noise), logistic (Bernoulli)"),
            ));
        }
    };
    Ok(EnvKind::Linear(LinearSpec {
        arms: arms as usize,
        features: features as usize,
        arm_features: arm_features as usize,
        context,
        reward,
    }))
}

/// The `kind = "piecewise"` environment: segments of arm means and the steps where they change.
fn parse_piecewise(
    ctx: &Ctx,
    t: &Table,
    path: &str,
    arms: Option<u64>,
    sigma: Option<f64>,
) -> Result<EnvKind, SpecError> {
    const KEYS: &[&str] = &[
        "name",
        "kind",
        "arms",
        "segments",
        "change_points",
        "reward",
        "sigma",
        "regret",
        "horizon",
        "shuffle",
        "scenario",
    ];
    if let Some(key) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(
            ctx.err(join(path, key), format!("does not apply to kind = \"piecewise\"; its keys: {}", KEYS.join(", ")))
        );
    }
    let field = join(path, "segments");
    let segments: Vec<Vec<f64>> = match t.get("segments") {
        Some(Value::Array(rows)) if !rows.is_empty() => {
            rows.iter()
                .enumerate()
                .map(|(j, row)| match row {
                    Value::Array(items) => items
                        .iter()
                        .enumerate()
                        .map(|(a, v)| ctx.number(v, &format!("{field}[{j}][{a}]")))
                        .collect::<Result<Vec<f64>, _>>(),
                    other => Err(ctx
                        .err(format!("{field}[{j}]"), format!("must be an array of means, got {}", type_name(other)))),
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(ctx.err(&field, "is required: an array of segments, each an array of arm means")),
    };
    let k = segments[0].len();
    if k < 2 {
        return Err(ctx.err(format!("{field}[0]"), format!("needs at least 2 arms, got {k}")));
    }
    if let Some(j) = segments.iter().position(|m| m.len() != k) {
        return Err(ctx.err(
            format!("{field}[{j}]"),
            format!("has {} means; every segment needs {k} (one per arm)", segments[j].len()),
        ));
    }
    if let Some(a) = arms
        && a as usize != k
    {
        return Err(ctx.err(join(path, "arms"), format!("is {a} but the segments have {k} arms")));
    }
    let cp_field = join(path, "change_points");
    let change_points: Vec<u64> = match t.get("change_points") {
        None if segments.len() == 1 => Vec::new(),
        None => {
            return Err(ctx.err(&cp_field, format!("is required: {} steps where the means change", segments.len() - 1)));
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(j, v)| match v {
                Value::Integer(i) if *i >= 1 => Ok(*i as u64),
                other => Err(ctx.err(format!("{cp_field}[{j}]"), format!("must be a step >= 1, got {}", other))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(ctx.err(&cp_field, format!("must be an array of steps, got {}", type_name(other)))),
    };
    if change_points.len() + 1 != segments.len() {
        return Err(ctx.err(
            &cp_field,
            format!(
                "lists {} change points for {} segments; give one fewer than the segments",
                change_points.len(),
                segments.len()
            ),
        ));
    }
    if let Some(j) = (1..change_points.len()).find(|&j| change_points[j] <= change_points[j - 1]) {
        return Err(ctx.err(format!("{cp_field}[{j}]"), "must be larger than the change point before it"));
    }
    let in_unit = |what: &str| -> Result<(), SpecError> {
        for (j, m) in segments.iter().enumerate() {
            if let Some((a, v)) = m.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
                return Err(ctx.err(format!("{field}[{j}][{a}]"), format!("is {v}; {what} must be in [0, 1]")));
            }
        }
        Ok(())
    };
    let reward = scheduled_reward(ctx, t, path, sigma, &in_unit)?;
    let regret = regret_notion(ctx, t, path)?;
    Ok(EnvKind::Piecewise(Piecewise { segments, change_points, reward, regret }))
}

/// The `reward` (and `sigma`) of an environment whose means change over time; `in_unit` checks
/// that the means are valid probabilities or table entries.
fn scheduled_reward(
    ctx: &Ctx,
    t: &Table,
    path: &str,
    sigma: Option<f64>,
    in_unit: &dyn Fn(&str) -> Result<(), SpecError>,
) -> Result<PiecewiseReward, SpecError> {
    Ok(match ctx.string(t, "reward", path)?.unwrap_or("bernoulli") {
        "bernoulli" | "deterministic" if sigma.is_some() => {
            return Err(ctx.err(join(path, "sigma"), "applies to Gaussian rewards only; remove it"));
        }
        "bernoulli" => {
            in_unit("a Bernoulli mean")?;
            PiecewiseReward::Bernoulli
        }
        "deterministic" => {
            in_unit("a reward in the table")?;
            PiecewiseReward::Deterministic
        }
        "gaussian" => match sigma {
            Some(s) if s > 0.0 => PiecewiseReward::Gaussian { sigma: s },
            Some(s) => return Err(ctx.err(join(path, "sigma"), format!("is {s}; it must be > 0"))),
            None => return Err(ctx.err(join(path, "sigma"), "is required for Gaussian arms")),
        },
        other => {
            return Err(ctx.err(
                join(path, "reward"),
                format!("unknown reward model \"{other}\"; valid: bernoulli, gaussian, deterministic"),
            ));
        }
    })
}

fn regret_notion(ctx: &Ctx, t: &Table, path: &str) -> Result<RegretNotion, SpecError> {
    ctx.word(t, "regret", path, "regret notion", (RegretNotion::NAMES, RegretNotion::from_name), RegretNotion::Dynamic)
}

/// The `kind = "drifting"` environment: shifted sine waves of arm means.
fn parse_drifting(
    ctx: &Ctx,
    t: &Table,
    path: &str,
    arms: Option<u64>,
    sigma: Option<f64>,
) -> Result<EnvKind, SpecError> {
    const KEYS: &[&str] = &[
        "name",
        "kind",
        "arms",
        "period",
        "amplitude",
        "center",
        "reward",
        "sigma",
        "regret",
        "horizon",
        "shuffle",
        "scenario",
    ];
    if let Some(key) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(
            ctx.err(join(path, key), format!("does not apply to kind = \"drifting\"; its keys: {}", KEYS.join(", ")))
        );
    }
    let arms = arms.ok_or_else(|| ctx.err(join(path, "arms"), "is required (number of arms, >= 2)"))?;
    if arms > MAX_ARMS {
        return Err(ctx.err(join(path, "arms"), format!("is {arms}; at most {MAX_ARMS}")));
    }
    let period = ctx
        .uint(t, "period", path, 2)?
        .ok_or_else(|| ctx.err(join(path, "period"), "is required: steps per full cycle of the means (>= 2)"))?;
    let number = |key: &str, default: f64| -> Result<f64, SpecError> {
        t.get(key).map_or(Ok(default), |v| ctx.number(v, &join(path, key)))
    };
    let (amplitude, center) = (number("amplitude", 0.4)?, number("center", 0.5)?);
    if amplitude < 0.0 {
        return Err(ctx.err(join(path, "amplitude"), format!("is {amplitude}; it must be >= 0")));
    }
    let in_unit = |what: &str| -> Result<(), SpecError> {
        if center - amplitude < 0.0 || center + amplitude > 1.0 {
            return Err(ctx.err(
                join(path, "amplitude"),
                format!(
                    "center ± amplitude = [{}, {}] leaves [0, 1]; {what} must be in [0, 1]",
                    center - amplitude,
                    center + amplitude
                ),
            ));
        }
        Ok(())
    };
    let reward = scheduled_reward(ctx, t, path, sigma, &in_unit)?;
    let regret = regret_notion(ctx, t, path)?;
    Ok(EnvKind::Drifting(Drifting { arms: arms as usize, period, amplitude, center, reward, regret }))
}

fn kind_is_contextual(kind: &EnvKind) -> bool {
    matches!(kind, EnvKind::Linear(_) | EnvKind::MovieLens(_))
}

/// The `kind = "movielens"` environment: loads the data (once per directory) and derives the
/// world, so a bad path or setting fails here, naming the field.
fn parse_movielens(
    ctx: &Ctx,
    t: &Table,
    path: &str,
    arms: Option<u64>,
    sigma: Option<f64>,
) -> Result<EnvKind, SpecError> {
    for key in t.keys() {
        if !MOVIELENS_KEYS.contains(&key.as_str())
            && !["name", "kind", "horizon", "shuffle", "scenario"].contains(&key.as_str())
        {
            return Err(ctx.err(
                join(path, key),
                format!("does not apply to kind = \"movielens\"; its keys: {}", MOVIELENS_KEYS.join(", ")),
            ));
        }
    }
    let dir = ctx.string(t, "data", path)?.ok_or_else(|| {
        ctx.err(
            join(path, "data"),
            "is required: the MovieLens directory, e.g. \"data/ml-100k\" (run scripts/fetch-movielens-100k.sh)",
        )
    })?;
    let arms =
        arms.ok_or_else(|| ctx.err(join(path, "arms"), "is required: how many of the most-rated movies are arms"))?;
    let rank = ctx.uint(t, "rank", path, 1)?.unwrap_or(DEFAULT_MOVIELENS_RANK);
    let features = ctx.word(
        t,
        "context",
        path,
        "user features",
        (UserFeatures::NAMES, UserFeatures::from_name),
        UserFeatures::LeftSingular,
    )?;
    let users = ctx.word(t, "users", path, "user split", (UserSplit::NAMES, UserSplit::from_name), UserSplit::All)?;
    let evaluation =
        ctx.word(t, "evaluation", path, "evaluation", (Evaluation::NAMES, Evaluation::from_name), Evaluation::Model)?;
    let sigma = sigma.unwrap_or(0.0);
    if sigma < 0.0 {
        return Err(ctx.err(join(path, "sigma"), format!("is {sigma}; it must be >= 0")));
    }
    if evaluation == Evaluation::Replay && sigma > 0.0 {
        return Err(
            ctx.err(join(path, "sigma"), "does not apply to replay (its rewards are the logged ratings); remove it")
        );
    }
    let split_seed = ctx.uint(t, "split_seed", path, 0)?.unwrap_or(1);
    let data = load_dataset(ctx, dir, path)?;
    let train_users = match ctx.uint(t, "train_users", path, 1)? {
        Some(n) => n as usize,
        // BanditBench: 100 training users on ml-100k, 200 on ml-1m.
        None if data.users.len() < 1000 => 100,
        None => 200,
    };
    let settings = MovieLensSettings {
        data: std::path::PathBuf::from(dir),
        arms: arms as usize,
        rank: rank as usize,
        features,
        users,
        train_users,
        split_seed,
        sigma,
        evaluation,
    };
    let world = MovieLensWorld::build(data, &settings).map_err(|(field, m)| ctx.err(join(path, field), m))?;
    Ok(EnvKind::MovieLens(MovieLensSpec { settings, world: std::sync::Arc::new(world) }))
}

fn load_dataset(ctx: &Ctx, dir: &str, path: &str) -> Result<std::sync::Arc<MovieLens>, SpecError> {
    let key = std::path::PathBuf::from(dir);
    if let Some((_, d)) = ctx.datasets.borrow().iter().find(|(p, _)| *p == key) {
        return Ok(std::sync::Arc::clone(d));
    }
    let data = MovieLens::load(&key).map_err(|e| ctx.err(join(path, "data"), e.to_string()))?;
    let data = std::sync::Arc::new(data);
    ctx.datasets.borrow_mut().push((key, std::sync::Arc::clone(&data)));
    Ok(data)
}

/// Rank of the MovieLens SVD when `rank` is not given (the paper's d = 5).
pub const DEFAULT_MOVIELENS_RANK: u64 = 5;

/// Noise standard deviation of a Gaussian linear world when `sigma` is not given.
pub const DEFAULT_LINEAR_SIGMA: f64 = 0.1;

/// Keys every family's `[[env]]` table takes besides its own.
const FAMILY_COMMON_KEYS: &[&str] = &["name", "kind", "horizon"];

/// An `[[env]]` table of a structured family: the common keys here, the rest by the family.
fn parse_family(ctx: &Ctx, t: &Table, path: &str, family: &family::FamilyKind) -> Result<EnvSpec, SpecError> {
    let allowed: Vec<&str> = FAMILY_COMMON_KEYS.iter().chain(family.keys).copied().collect();
    ctx.check_keys(t, &allowed, path, &format!("a {} environment", family.kind))?;
    let mut own = t.clone();
    for key in FAMILY_COMMON_KEYS {
        own.remove(*key);
    }
    let env = (family.parse)(&family::Fields::new(&own))
        .map_err(|e| ctx.err(if e.key.is_empty() { path.to_string() } else { join(path, &e.key) }, e.message))?;
    let kind = EnvKind::Family(family::Family(env));
    let label = match ctx.string(t, "name", path)? {
        Some(n) => n.to_string(),
        None => EnvSpec::default_label(&kind),
    };
    Ok(EnvSpec { label, horizon: ctx.uint(t, "horizon", path, 1)?, ..EnvSpec::new(kind) })
}

/// Every environment kind: the classic and contextual ones, then the structured families.
fn kind_names() -> String {
    ENV_KINDS.iter().copied().chain(family::KINDS.iter().map(|k| k.kind)).collect::<Vec<_>>().join(", ")
}

fn preset_names() -> String {
    ENV_PRESETS.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

fn policy_names() -> String {
    let families = family::KINDS.iter().flat_map(|k| k.policies);
    POLICIES.iter().chain(families).map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// Returns the explicit label (if any) and the validated policy.
fn parse_policy(ctx: &Ctx, t: &Table, i: usize) -> Result<(Option<String>, PolicySpec), SpecError> {
    let path = format!("policy[{i}]");
    let names = || {
        let agents = ctx.agents.map(|a| a.names()).unwrap_or_default();
        let agents: Vec<&str> = agents.iter().map(|(n, _)| *n).collect();
        if agents.is_empty() { policy_names() } else { format!("{}, {}", policy_names(), agents.join(", ")) }
    };
    let name = ctx
        .string(t, "name", &path)?
        .ok_or_else(|| ctx.err(join(&path, "name"), format!("is required; valid policies: {}", names())))?;
    let label = ctx.string(t, "label", &path)?.map(str::to_string);
    if let Some(parser) = ctx.agents
        && parser.names().iter().any(|(n, _)| *n == name)
    {
        let mut table = t.clone();
        table.remove("label");
        let factory = parser
            .parse(name, &table)
            .map_err(|(field, m)| ctx.err(if field.is_empty() { path.clone() } else { join(&path, &field) }, m))?;
        return Ok((label.clone(), PolicySpec::agent(label.unwrap_or_else(|| name.to_string()), factory)));
    }
    let def = find_policy(name).ok_or_else(|| {
        ctx.err(join(&path, "name"), format!("unknown policy \"{name}\"; valid policies: {}", names()))
    })?;
    for key in t.keys() {
        if key != "name" && key != "label" && !def.params.iter().any(|p| p.name == key) {
            let valid: Vec<&str> = def.params.iter().map(|p| p.name).collect();
            let hint = if valid.is_empty() {
                format!("{name} takes no parameters")
            } else {
                format!("parameters of {name}: {}", valid.join(", "))
            };
            return Err(ctx.err(join(&path, key), format!("unknown parameter; {hint} (plus `label`)")));
        }
    }
    let mut spec = PolicySpec::with_defaults(def);
    for (j, p) in def.params.iter().enumerate() {
        if let Some(v) = t.get(p.name) {
            spec.params[j] = p.parse(v).map_err(|m| ctx.err(join(&path, p.name), m))?;
        }
    }
    spec.check().map_err(|m| ctx.err(&path, m))?;
    if let Some(l) = &label {
        spec.label = l.clone();
    }
    Ok((label, spec))
}

/// The spec with every default filled in, as TOML. Parsing it gives back the same experiment.
pub fn to_toml(exp: &Experiment) -> String {
    let mut doc = Table::new();
    doc.insert("name".into(), Value::String(exp.name.clone()));
    doc.insert("horizon".into(), int(exp.horizon));
    doc.insert("seeds".into(), int(exp.seeds));
    doc.insert("seed".into(), seed_value(exp.seed));
    doc.insert("checkpoints".into(), int(exp.checkpoints as u64));
    let envs = exp.envs.iter().map(|e| Value::Table(env_table(e))).collect();
    doc.insert("env".into(), Value::Array(envs));
    let pols = exp
        .policies
        .iter()
        .map(|p| {
            let mut t = Table::new();
            if let Some(agent) = &p.agent {
                let mut own = agent.to_toml();
                t.insert("name".into(), own.remove("name").unwrap_or_else(|| Value::String("agent".into())));
                t.insert("label".into(), Value::String(p.label.clone()));
                t.extend(own);
                return Value::Table(t);
            }
            t.insert("name".into(), Value::String(p.def.name.into()));
            t.insert("label".into(), Value::String(p.label.clone()));
            for (d, v) in p.def.params.iter().zip(&p.params) {
                t.insert(d.name.into(), ParamDef::to_toml(v));
            }
            Value::Table(t)
        })
        .collect();
    doc.insert("policy".into(), Value::Array(pols));
    toml::to_string(&doc).expect("spec serializes")
}

/// A seed as TOML: an integer when it fits, else its digits as a string (TOML integers are
/// signed 64-bit).
fn seed_value(x: u64) -> Value {
    match i64::try_from(x) {
        Ok(i) => Value::Integer(i),
        Err(_) => Value::String(x.to_string()),
    }
}

fn int(x: u64) -> Value {
    Value::Integer(x as i64)
}

fn floats(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| Value::Float(*x)).collect())
}

fn scheduled_table(t: &mut Table, reward: PiecewiseReward, regret: RegretNotion) {
    let name = match reward {
        PiecewiseReward::Bernoulli => "bernoulli",
        PiecewiseReward::Gaussian { sigma } => {
            t.insert("sigma".into(), Value::Float(sigma));
            "gaussian"
        }
        PiecewiseReward::Deterministic => "deterministic",
    };
    t.insert("reward".into(), Value::String(name.into()));
    t.insert("regret".into(), Value::String(regret.name().into()));
}

fn env_table(e: &EnvSpec) -> Table {
    let mut t = Table::new();
    t.insert("name".into(), Value::String(e.label.clone()));
    match &e.kind {
        EnvKind::Preset { preset, arms } => {
            t.insert("preset".into(), Value::String(preset.name().into()));
            t.insert("arms".into(), int(*arms as u64));
        }
        EnvKind::Bernoulli { means } => {
            t.insert("kind".into(), Value::String("bernoulli".into()));
            t.insert("means".into(), floats(means));
        }
        EnvKind::Gaussian { means, sigma } => {
            t.insert("kind".into(), Value::String("gaussian".into()));
            t.insert("means".into(), floats(means));
            match sigma {
                Sigma::Shared(s) => t.insert("sigma".into(), Value::Float(*s)),
                Sigma::PerArm(v) => t.insert("sigmas".into(), floats(v)),
            };
        }
        EnvKind::Linear(l) => {
            t.insert("kind".into(), Value::String("linear".into()));
            t.insert("arms".into(), int(l.arms as u64));
            t.insert("features".into(), int(l.features as u64));
            t.insert("arm_features".into(), int(l.arm_features as u64));
            t.insert("context".into(), Value::String(l.context.name().into()));
            match l.reward {
                LinearReward::Gaussian { sigma } => {
                    t.insert("reward".into(), Value::String("gaussian".into()));
                    t.insert("sigma".into(), Value::Float(sigma));
                }
                LinearReward::Logistic => {
                    t.insert("reward".into(), Value::String("logistic".into()));
                }
            }
        }
        EnvKind::Piecewise(p) => {
            t.insert("kind".into(), Value::String("piecewise".into()));
            t.insert("segments".into(), Value::Array(p.segments.iter().map(|m| floats(m)).collect()));
            t.insert("change_points".into(), Value::Array(p.change_points.iter().map(|&c| int(c)).collect()));
            scheduled_table(&mut t, p.reward, p.regret);
        }
        EnvKind::Drifting(d) => {
            t.insert("kind".into(), Value::String("drifting".into()));
            t.insert("arms".into(), int(d.arms as u64));
            t.insert("period".into(), int(d.period));
            t.insert("amplitude".into(), Value::Float(d.amplitude));
            t.insert("center".into(), Value::Float(d.center));
            scheduled_table(&mut t, d.reward, d.regret);
        }
        EnvKind::Family(f) => {
            t.insert("kind".into(), Value::String(f.0.kind().into()));
            f.0.write_toml(&mut t);
            if let Some(h) = e.horizon {
                t.insert("horizon".into(), int(h));
            }
            return t;
        }
        EnvKind::MovieLens(m) => {
            let s = &m.settings;
            t.insert("kind".into(), Value::String("movielens".into()));
            t.insert("data".into(), Value::String(s.data.to_string_lossy().into_owned()));
            t.insert("arms".into(), int(s.arms as u64));
            t.insert("rank".into(), int(s.rank as u64));
            t.insert("context".into(), Value::String(s.features.name().into()));
            t.insert("users".into(), Value::String(s.users.name().into()));
            t.insert("train_users".into(), int(s.train_users as u64));
            t.insert("split_seed".into(), int(s.split_seed));
            t.insert("evaluation".into(), Value::String(s.evaluation.name().into()));
            if s.evaluation == Evaluation::Model {
                t.insert("sigma".into(), Value::Float(s.sigma));
            }
        }
    }
    t.insert("shuffle".into(), Value::Boolean(e.shuffle));
    if let Some(s) = e.instance_seed {
        t.insert("instance_seed".into(), seed_value(s));
    }
    if let Some(h) = e.horizon {
        t.insert("horizon".into(), int(h));
    }
    if let Some(s) = &e.scenario {
        t.insert("scenario".into(), Value::String(s.clone()));
    }
    t
}

/// A built-in experiment.
pub struct ExperimentPreset {
    pub name: &'static str,
    pub summary: &'static str,
    pub toml: &'static str,
}

/// Built-in experiments (each is also a file under `examples/`).
pub const EXPERIMENT_PRESETS: &[ExperimentPreset] = &[
    ExperimentPreset {
        name: "banditbench-mab",
        summary: "EVOLvE/BanditBench numeric MAB grid: K in {5, 20} x 4 presets, T = 300 (easy) / 1000 (hard), 30 seeds, every policy",
        toml: include_str!("../../../examples/banditbench-mab.toml"),
    },
    ExperimentPreset {
        name: "evolve-mab",
        summary: "EVOLvE's 16 MAB configurations: the numeric grid x {videos, clothes} scenarios; add LLM agents with `preset = \"evolve-mab\"` in a spec",
        toml: include_str!("../../../examples/evolve-mab.toml"),
    },
    ExperimentPreset {
        name: "evolve-cb",
        summary: "EVOLvE's 2 MovieLens configurations (K = 10, T = 200; K = 30, T = 1000) on data/ml-100k; add LLM agents with `preset = \"evolve-cb\"`",
        toml: include_str!("../../../examples/evolve-cb.toml"),
    },
    ExperimentPreset {
        name: "quickstart",
        summary: "the README's first experiment: three environments, UCB and Thompson, 200 seeds",
        toml: include_str!("../../../examples/quickstart.toml"),
    },
];

/// Loads a built-in experiment by name.
pub fn preset_experiment(name: &str) -> Result<Experiment, SpecError> {
    let preset = EXPERIMENT_PRESETS.iter().find(|p| p.name == name).ok_or_else(|| SpecError {
        source: "--preset".into(),
        field: String::new(),
        message: format!(
            "unknown experiment preset \"{name}\"; valid presets: {}",
            EXPERIMENT_PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        ),
    })?;
    parse_spec(preset.toml, &format!("preset {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "quickstart"
horizon = 1000
seeds = 200          # number of independent runs per env × policy
seed = 7             # master seed
[[env]]
preset = "bernoulli-hard"
arms = 20
[[env]]
kind = "bernoulli"
means = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8]
[[env]]
kind = "gaussian"
means = [0.0, 0.5, 1.0]
sigma = 1.0
[[policy]]
name = "ucb"         # index mean + sqrt(alpha·ln t / n); alpha = 0.5 by default (BanditBench); "ucb1" = alpha 2 (Auer)
alpha = 0.5
[[policy]]
name = "thompson"
"#;

    fn err(text: &str) -> SpecError {
        parse_spec(text, "s.toml").unwrap_err()
    }

    #[test]
    fn the_minimal_spec_parses() {
        let exp = parse_spec(MINIMAL, "q.toml").unwrap();
        assert_eq!((exp.horizon, exp.seeds, exp.seed), (1000, 200, 7));
        assert_eq!(exp.envs.len(), 3);
        assert_eq!(exp.envs[0].label, "bernoulli-hard-k20");
        assert!(exp.envs[0].shuffle && !exp.envs[1].shuffle);
        assert_eq!(exp.policies[0].identity(), "ucb(alpha=0.5)");
        assert_eq!(exp.policies[1].identity(), "thompson(family=auto)");
    }

    #[test]
    fn filled_spec_round_trips() {
        let exp = parse_spec(MINIMAL, "q.toml").unwrap();
        let text = to_toml(&exp);
        let again = parse_spec(&text, "filled.toml").unwrap();
        assert_eq!(to_toml(&again), text);
        assert_eq!(again.envs, exp.envs);
        let ids: Vec<String> = again.policies.iter().map(|p| p.identity()).collect();
        assert_eq!(ids, exp.policies.iter().map(|p| p.identity()).collect::<Vec<_>>());
        assert!(text.contains("checkpoints = 50"), "{text}");
    }

    #[test]
    fn presets_parse() {
        // Presets on MovieLens read data/ml-100k relative to the working directory, which is the
        // crate here; crates/armada-cli/tests/cli.rs parses them from the workspace root.
        for p in EXPERIMENT_PRESETS.iter().filter(|p| !p.toml.contains("kind = \"movielens\"")) {
            preset_experiment(p.name).unwrap();
        }
        assert!(preset_experiment("nope").unwrap_err().message.contains("banditbench-mab"));
    }

    #[test]
    fn bad_input_names_the_field_and_the_fix() {
        let base = "horizon = 10\n[[policy]]\nname = \"ucb\"\n";
        let cases: &[(&str, &str, &str)] = &[
            (
                "horizon = 10\nhorizn = 3\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n[[policy]]\nname=\"ucb\"",
                "horizn",
                "valid keys",
            ),
            (
                "horizon = \"ten\"\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n[[policy]]\nname=\"ucb\"",
                "horizon",
                "got a string",
            ),
            (
                "horizon = 10\nseeds = 100000000\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n[[policy]]\nname=\"ucb\"",
                "seeds",
                "at most",
            ),
            ("horizon = 0\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n[[policy]]\nname=\"ucb\"", "horizon", ">= 1"),
            ("[[env]]\npreset=\"bernoulli-easy\"\narms=1", "env[0].arms", ">= 2"),
            ("[[env]]\nkind=\"gaussian\"\nmeans=[0,1]\nsigma=0", "env[0].sigma", "> 0"),
            ("[[env]]\nkind=\"gaussian\"\nmeans=[0,1]\nsigmas=[1,-1]", "env[0].sigmas[1]", "> 0"),
            ("[[env]]\nkind=\"bernoulli\"\nmeans=[0.2,1.5]", "env[0].means[1]", "[0, 1]"),
            ("[[env]]\npreset=\"bernoulli-medium\"\narms=3", "env[0].preset", "bernoulli-hard"),
            ("[[env]]\nkind=\"poisson\"\nmeans=[1,2]", "env[0].kind", "bernoulli, gaussian"),
            ("[[env]]\nkind=\"bernoulli\"\nmeans=[0.2]", "env[0].means", "at least 2"),
        ];
        for (env_part, field, hint) in cases {
            let text = if env_part.contains("[[policy]]") { env_part.to_string() } else { format!("{base}{env_part}") };
            let e = err(&text);
            assert_eq!(e.field, *field, "{text}\n{e}");
            assert!(e.message.contains(hint), "{e}");
            assert!(e.to_string().starts_with("s.toml: "), "{e}");
        }
        let env = "horizon = 10\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n";
        let e = err(&format!("{env}[[policy]]\nname=\"ucbb\""));
        assert_eq!(e.field, "policy[0].name");
        assert!(e.message.contains("thompson"), "{e}");
        let e = err(&format!("{env}[[policy]]\nname=\"ucb\"\nbeta=1"));
        assert_eq!(e.field, "policy[0].beta");
        assert!(e.message.contains("alpha"), "{e}");
        let e = err(&format!("{env}[[policy]]\nname=\"ucb\"\nalpha=-1"));
        assert_eq!(e.field, "policy[0].alpha");
        let e = err(&format!("{env}[[policy]]\nname=\"ucb\"\n[[policy]]\nname=\"ucb\""));
        assert!(e.message.contains("same algorithm"), "{e}");
        let e = err("horizon = [");
        assert!(e.message.contains("invalid TOML") && e.message.contains("line"), "{e}");
        let e = err(&format!(
            "{env}name=\"a\"\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\nname=\"a\"\n[[policy]]\nname=\"ucb\""
        ));
        assert_eq!(e.field, "env[1]");
        assert!(e.message.contains("name"), "{e}");
    }

    #[test]
    fn colliding_automatic_env_labels_are_numbered() {
        let text = "horizon = 10\n[[env]]\nkind=\"bernoulli\"\nmeans=[0.1,0.2]\n[[env]]\nkind=\"bernoulli\"\nmeans=[0.3,0.2]\n[[env]]\nkind=\"gaussian\"\nmeans=[0,1]\nsigma=1\n[[policy]]\nname=\"ucb\"\n";
        let exp = parse_spec(text, "s").unwrap();
        let labels: Vec<&str> = exp.envs.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["bernoulli-k2#1", "bernoulli-k2#2", "gaussian-k2"]);
    }

    #[test]
    fn same_name_policies_get_distinct_labels() {
        let text = "horizon = 10\n[[env]]\npreset=\"bernoulli-hard\"\narms=3\n[[policy]]\nname=\"ucb\"\n[[policy]]\nname=\"ucb\"\nalpha=2\n";
        let exp = parse_spec(text, "s").unwrap();
        assert_eq!(exp.policies[0].label, "ucb(alpha=0.5)");
        assert_eq!(exp.policies[1].label, "ucb(alpha=2)");
    }
}
