//! Restless bandits with a budget (Whittle 1988), in the fully observed setting of coRMAB (Xu,
//! Wilder, Khalil, Tambe, ICLR 2025) without its combinatorial constraints.
//!
//! N arms, each a Markov chain on S states (2 ≤ S ≤ 16) that moves every step: by its active
//! matrix when pulled, by its passive matrix otherwise. Each step the policy sees every arm's
//! state and pulls a set of at most B arms. **Reward** (coRMAB's convention): after the
//! transition, every arm pays the reward of the state it landed in, r_t = Σ_j r_j(s_{t+1,j}); the
//! expected reward of a step is E[r_t | s_t, a_t] = Σ_j ρ_j(s_{t,j}, a_{t,j}) with
//! ρ_j(x, a) = Σ_y P_j^a(x, y)·r_j(y). Runs may be cut into **episodes** of `episode` steps, each
//! restarting every arm from its start state (coRMAB: 20); without `episode` the run is one
//! episode. All randomness is in the transitions: one uniform per arm per step from the reward
//! stream, whatever the action (common random numbers across policies).
//!
//! **Regret.** V* is the best expected total reward from the start state over the run (the sum of
//! its episodes' optima). The regret of a run is V* − Σ_t E[r_t | s_t, a_t]: the policy's term is
//! exact given the states it visited, and its expectation is V^π, so the regret is an unbiased
//! estimate of V* − V^π ≥ 0 (its deviation from that is a sum of martingale differences); a
//! single run can dip below zero when the chains were kind to it. At a checkpoint t the
//! benchmark's part is Σ_{τ≤t} b_τ, with b_τ the optimal policy's expected reward at step τ from
//! the start state (so the curve's benchmark is the optimal policy's own expected cumulative
//! reward, and only the final value equals V*). The benchmark is one of:
//! - **dp**: the exact optimum by finite-horizon dynamic programming over the joint state (S^N
//!   states, actions the sets of ≤ B arms), solved once per instance for one episode and cached
//!   ([`Dp`]). Needs `episode` and S^N × Σ_{i≤B} C(N, i) ≤ [`STEP_CAP`], episode × S^N ≤
//!   [`TABLE_CAP`]. Then OptFrac is the share of steps on which the pulled set is DP-optimal
//!   (its Q-value is within 10⁻⁹ of V*, so ties count as optimal; checking a set other than the
//!   stored maximiser costs about S^N multiply-adds per step).
//! - **lagrangian**: the Lagrangian (Whittle) relaxation bound min_{λ≥0} λ·B·L + Σ_j V_j(λ) of
//!   each episode of L steps, where V_j(λ) is arm j's best value alone paying λ per pull
//!   ([`lagrangian_bound`]). It is ≥ the optimum, so this regret overstates the true one by the
//!   relaxation gap; b_τ is the relaxed per-arm policies' expected λ-adjusted reward at step τ.
//!   Its cost is about 100 single-arm DPs over L steps, so without `episode` (L = the horizon) it
//!   grows linearly with the horizon.
//!   OptFrac is then the share of steps whose pulled set equals the reference Whittle set: the
//!   (≤ B) arms with the largest positive index at discount [`DEFAULT_DISCOUNT`], so the default
//!   `whittle` policy scores 1 by construction.
//!
//! Arms are ranked (for the pull shares) by that reference index at their start state, largest
//! first. Policies ([`Planner`]): `whittle`, `restless-myopic`, `restless-random`, `restless-optimal`
//! (only with the dp benchmark). Classic one-arm policies cannot play: the action is a set.
//! Measures: `pulls-per-step` and `benchmark-value` (V* or the bound, over the whole run) for
//! every policy; `non-indexable-arms` for `whittle` (arms failing the indexability check).

mod instance;
mod oracle;
mod policies;
mod whittle;

pub use instance::{Instance, Tables, World};
pub use oracle::{
    Dp, QScratch, Relaxation, STEP_CAP, TABLE_CAP, action_count, dp_feasible, joint_count, lagrangian_bound,
};
pub use policies::{Planner, top_positive};
pub use whittle::{DEFAULT_DISCOUNT, WhittleIndex, whittle_indices};

use super::{
    FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome, Tracker, floats, fmt_list, int, number,
};
use crate::policy::{ParamDef, ParamKind, ParamValue, PolicyDef, PolicySpec};
use crate::rng::Role;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use toml::{Table, Value};

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        name: "whittle",
        algorithm: "whittle",
        contextual: false,
        summary: "pull the (up to) B arms whose current state has the largest positive Whittle index (discounted \
                  single-arm problem, index by bisection on the passive subsidy)",
        reference: "Whittle (1988); coRMAB, Xu, Wilder, Khalil, Tambe (ICLR 2025)",
        params: &[ParamDef {
            name: "discount",
            kind: ParamKind::Float { min: 0.0, max: 0.999, min_open: true },
            default: ParamValue::Float(DEFAULT_DISCOUNT),
            doc: "discount of the single-arm problem the index is computed on; 0.95 = effective horizon 20, coRMAB's \
                  episode",
        }],
    },
    PolicyDef {
        name: "restless-myopic",
        algorithm: "restless-myopic",
        contextual: false,
        summary: "pull the (up to) B arms with the largest positive immediate gain of acting, \
                  E[r(next state) | pull] - E[r(next state) | rest]",
        reference: "coRMAB's myopic baseline, Xu, Wilder, Khalil, Tambe (ICLR 2025)",
        params: &[],
    },
    PolicyDef {
        name: "restless-random",
        algorithm: "restless-random",
        contextual: false,
        summary: "pull B arms uniformly at random every step",
        reference: "coRMAB's random baseline, Xu, Wilder, Khalil, Tambe (ICLR 2025)",
        params: &[],
    },
    PolicyDef {
        name: "restless-optimal",
        algorithm: "restless-optimal",
        contextual: false,
        summary: "play the exact DP-optimal set for the steps left in the episode (environments with the dp \
                  benchmark only)",
        reference: "finite-horizon dynamic programming over the joint state",
        params: &[],
    },
];

const KEYS: &[&str] = &[
    "instance",
    "arms",
    "states",
    "instance_seed",
    "passive",
    "active",
    "up_passive",
    "up_active",
    "state_rewards",
    "budget",
    "start",
    "episode",
    "benchmark",
];

/// The registry entry of this family.
pub const KIND: FamilyKind = FamilyKind { kind: "restless", keys: KEYS, parse, policies: POLICIES };

/// Most arms an environment may have.
pub const MAX_ARMS: usize = 4096;
/// Most states per arm.
pub const MAX_STATES: usize = 16;
/// Default number of states of a random instance (coRMAB's chain).
pub const DEFAULT_RANDOM_STATES: usize = 4;
/// How far a transition row's sum may stray from 1.
const ROW_SUM_TOLERANCE: f64 = 1e-9;

fn parse(fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    Ok(Arc::new(Restless::from_fields(fields)?))
}

/// Parses a `kind = "restless"` table (without name, kind and horizon), for callers outside the
/// spec layer (tests, tools).
pub fn parse_table(table: &Table) -> Result<Restless, FieldError> {
    Restless::from_fields(&Fields::new(table))
}

/// Where the chains come from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// `passive` and `active` matrices, flattened as in [`Instance`].
    Matrices { passive: Vec<f64>, active: Vec<f64> },
    /// coRMAB up/down chains with per-arm up-probabilities.
    Chains { up_passive: Vec<f64>, up_active: Vec<f64> },
    /// The coRMAB random draw, from `instance_seed` or (absent) the experiment's master seed.
    Random { instance_seed: Option<u64> },
}

/// What regret is measured against (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Benchmark {
    Dp,
    Lagrangian,
}

/// Largest arms × episode length × states² of the Lagrangian bound (about 10 s of work).
pub const MAX_BOUND_WORK: u64 = 1 << 28;

/// A `kind = "restless"` environment.
pub struct Restless {
    source: Source,
    arms: usize,
    states: usize,
    budget: usize,
    /// State rewards of an explicit instance (arm-major); empty for a random one.
    rewards: Vec<f64>,
    start: Vec<usize>,
    episode: Option<u64>,
    /// The `benchmark` word as written ("auto", "dp" or "lagrangian").
    benchmark_word: &'static str,
    benchmark: Benchmark,
    /// The model of an explicit instance.
    fixed: Option<Arc<Model>>,
    /// Models of random instances, by the seed they were drawn from.
    drawn: Cache<Model>,
}

impl fmt::Debug for Restless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Restless({})", self.identity())
    }
}

/// An instance with everything runs share: sampling tables, the reference Whittle index, and
/// the cached benchmarks.
#[derive(Debug)]
pub struct Model {
    pub instance: Instance,
    pub tables: Tables,
    /// Whittle indices at [`DEFAULT_DISCOUNT`]: the OptFrac reference without a DP, and the
    /// arm ranking.
    pub reference: Arc<WhittleIndex>,
    rank: Vec<usize>,
    dp: OnceLock<Arc<Dp>>,
    curves: Cache<Curves>,
    whittle: Cache<WhittleIndex>,
}

/// The benchmark of a run of a given horizon.
#[derive(Debug)]
pub struct Curves {
    /// The DP, under the dp benchmark.
    pub dp: Option<Arc<Dp>>,
    /// Steps per episode (the horizon when there are no resets or the episode is longer).
    pub episode: usize,
    /// b_τ over a full episode.
    pub full: Vec<f64>,
    /// b_τ over the last, shorter episode (empty when the horizon is a whole number of episodes).
    pub tail: Vec<f64>,
    /// The benchmark's value over the whole run: Σ over episodes of Σ_τ b_τ.
    pub total: f64,
}

/// Values computed once per key (a seed, a horizon, a discount's bits) and shared by every run
/// that asks: threads asking for the same key wait for one computation; different keys do not
/// block each other.
struct Cache<V> {
    entries: Mutex<Vec<(u64, Slot<V>)>>,
}

/// One cached value, filled once.
type Slot<V> = Arc<OnceLock<Arc<V>>>;

impl<V> Cache<V> {
    fn new() -> Self {
        Cache { entries: Mutex::new(Vec::new()) }
    }

    /// The value under `key`, made by `make` if no one has made it yet.
    fn get(&self, key: u64, make: impl FnOnce() -> V) -> Arc<V> {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.iter().find(|(k, _)| *k == key) {
                Some((_, cell)) => Arc::clone(cell),
                None => {
                    let cell = Arc::new(OnceLock::new());
                    entries.push((key, Arc::clone(&cell)));
                    cell
                }
            }
        };
        Arc::clone(cell.get_or_init(|| Arc::new(make())))
    }

    /// Stores `value` under `key`.
    fn insert(&self, key: u64, value: Arc<V>) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).push((key, Arc::new(OnceLock::from(value))));
    }
}

impl<V> fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.lock().map_or(0, |e| e.len());
        write!(f, "Cache({n} entries)")
    }
}

impl Model {
    pub fn new(instance: Instance) -> Model {
        let tables = Tables::new(&instance);
        let reference = Arc::new(whittle_indices(&instance, &tables, DEFAULT_DISCOUNT));
        let mut rank: Vec<usize> = (0..instance.arms).collect();
        rank.sort_by(|&a, &b| {
            let (wa, wb) = (reference.of(a, instance.start[a]), reference.of(b, instance.start[b]));
            wb.total_cmp(&wa).then(a.cmp(&b))
        });
        let whittle = Cache::new();
        whittle.insert(DEFAULT_DISCOUNT.to_bits(), Arc::clone(&reference));
        Model { instance, tables, reference, rank, dp: OnceLock::new(), curves: Cache::new(), whittle }
    }

    /// The Whittle indices at `discount` (computed once).
    pub fn whittle(&self, discount: f64) -> Arc<WhittleIndex> {
        self.whittle.get(discount.to_bits(), || whittle_indices(&self.instance, &self.tables, discount))
    }

    /// The DP over an episode of `length` steps (computed once; every call must pass the same
    /// length, the environment's episode).
    pub fn dp(&self, length: usize) -> Arc<Dp> {
        Arc::clone(self.dp.get_or_init(|| Arc::new(Dp::solve(&self.instance, length))))
    }

    /// The benchmark curves of a run of `horizon` steps (computed once per horizon).
    pub fn curves(&self, benchmark: Benchmark, episode: Option<u64>, horizon: u64) -> Arc<Curves> {
        self.curves.get(horizon, || {
            let len = episode.map_or(horizon, |e| e.min(horizon)) as usize;
            let episodes = horizon / len as u64;
            let tail_len = (horizon % len as u64) as usize;
            let (dp, full, tail) = match benchmark {
                Benchmark::Dp => {
                    let dp = self.dp(episode.expect("the dp benchmark needs an episode") as usize);
                    let full = dp.curve(&self.tables, &self.instance, len);
                    let tail = if tail_len > 0 { dp.curve(&self.tables, &self.instance, tail_len) } else { Vec::new() };
                    (Some(dp), full, tail)
                }
                Benchmark::Lagrangian => {
                    let full = lagrangian_bound(&self.instance, &self.tables, len).per_step;
                    let tail = if tail_len > 0 {
                        lagrangian_bound(&self.instance, &self.tables, tail_len).per_step
                    } else {
                        Vec::new()
                    };
                    (None, full, tail)
                }
            };
            let total = episodes as f64 * full.iter().sum::<f64>() + tail.iter().sum::<f64>();
            Curves { dp, episode: len, full, tail, total }
        })
    }
}

/// Reads `key` as one S × S row-stochastic matrix per arm, flattened arm-major.
fn read_matrices(fields: &Fields, key: &str, arms: usize, states: usize) -> Result<Option<Vec<f64>>, FieldError> {
    let Some(value) = fields.table.get(key) else { return Ok(None) };
    let shape = format!("a list of {arms} matrices (one per arm), each {states} rows of {states} probabilities");
    let Value::Array(list) = value else { return Err(FieldError::new(key, format!("must be {shape}"))) };
    if list.len() != arms {
        return Err(FieldError::new(
            key,
            format!("has {} matrices but state_rewards has {arms} arms; must be {shape}", list.len()),
        ));
    }
    let mut flat = Vec::with_capacity(arms * states * states);
    for (j, m) in list.iter().enumerate() {
        let rows = match m {
            Value::Array(rows) if rows.len() == states => rows,
            _ => {
                return Err(FieldError::new(
                    format!("{key}[{j}]"),
                    format!("must be {states} rows of {states} probabilities"),
                ));
            }
        };
        for (x, row) in rows.iter().enumerate() {
            let at = format!("{key}[{j}][{x}]");
            let entries = match row {
                Value::Array(r) if r.len() == states => r,
                _ => return Err(FieldError::new(at, format!("must be a row of {states} probabilities"))),
            };
            let mut sum = 0.0;
            for (y, v) in entries.iter().enumerate() {
                let p = number(v, &format!("{at}[{y}]"))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(FieldError::new(
                        format!("{at}[{y}]"),
                        format!("must be a probability in [0, 1], got {p}"),
                    ));
                }
                sum += p;
                flat.push(p);
            }
            if (sum - 1.0).abs() > ROW_SUM_TOLERANCE {
                return Err(FieldError::new(at, format!("must sum to 1 (a transition row), sums to {sum}")));
            }
        }
    }
    Ok(Some(flat))
}

/// Reads `key` as one probability per arm.
fn read_probabilities(fields: &Fields, key: &str, arms: usize) -> Result<Option<Vec<f64>>, FieldError> {
    let Some(v) = fields.numbers(key)? else { return Ok(None) };
    if v.len() != arms {
        return Err(FieldError::new(
            key,
            format!("has {} entries but state_rewards has {arms} arms; give one up-probability per arm", v.len()),
        ));
    }
    if let Some((i, p)) = v.iter().enumerate().find(|(_, p)| !(0.0..=1.0).contains(*p)) {
        return Err(FieldError::new(format!("{key}[{i}]"), format!("must be a probability in [0, 1], got {p}")));
    }
    Ok(Some(v))
}

impl Restless {
    fn from_fields(fields: &Fields) -> Result<Restless, FieldError> {
        let random = fields.word("instance", &["random"])?.is_some();
        let (source, arms, states, rewards) = if random {
            for key in ["passive", "active", "up_passive", "up_active", "state_rewards"] {
                if fields.has(key) {
                    return Err(FieldError::new(
                        key,
                        "is for an explicit instance; instance = \"random\" draws its own chains and rewards (drop \
                         one or the other)",
                    ));
                }
            }
            let arms = fields.require("arms", fields.count("arms", 1)?, "the number of arms, e.g. arms = 8")?;
            if arms > MAX_ARMS as u64 {
                return Err(FieldError::new("arms", format!("must be at most {MAX_ARMS}, got {arms}")));
            }
            let states = fields.count("states", 2)?.unwrap_or(DEFAULT_RANDOM_STATES as u64);
            if states > MAX_STATES as u64 {
                return Err(FieldError::new("states", format!("must be at most {MAX_STATES}, got {states}")));
            }
            let source = Source::Random { instance_seed: fields.seed("instance_seed")? };
            (source, arms as usize, states as usize, Vec::new())
        } else {
            for key in ["arms", "states", "instance_seed"] {
                if fields.has(key) {
                    return Err(FieldError::new(
                        key,
                        "is for instance = \"random\"; an explicit instance has one state_rewards row per arm",
                    ));
                }
            }
            let rows = fields.require(
                "state_rewards",
                fields.rows("state_rewards")?,
                "one row of state rewards per arm (e.g. [[0.2, 0.1, 10], [0.1, 0.2, 1]]), or instance = \"random\"",
            )?;
            let arms = rows.len();
            if arms == 0 || arms > MAX_ARMS {
                return Err(FieldError::new(
                    "state_rewards",
                    format!("must have 1 to {MAX_ARMS} rows (arms), got {arms}"),
                ));
            }
            let states = rows[0].len();
            if !(2..=MAX_STATES).contains(&states) {
                return Err(FieldError::new(
                    "state_rewards[0]",
                    format!("must have 2 to {MAX_STATES} entries (states), got {states}"),
                ));
            }
            if let Some(j) = rows.iter().position(|r| r.len() != states) {
                return Err(FieldError::new(
                    format!("state_rewards[{j}]"),
                    format!("has {} entries; every arm needs {states} (as arm 0)", rows[j].len()),
                ));
            }
            let rewards: Vec<f64> = rows.concat();
            let passive = read_matrices(fields, "passive", arms, states)?;
            let active = read_matrices(fields, "active", arms, states)?;
            let up_passive = read_probabilities(fields, "up_passive", arms)?;
            let up_active = read_probabilities(fields, "up_active", arms)?;
            let source = match (passive, active, up_passive, up_active) {
                (Some(passive), Some(active), None, None) => Source::Matrices { passive, active },
                (None, None, Some(up_passive), Some(up_active)) => Source::Chains { up_passive, up_active },
                (None, None, None, None) => {
                    return Err(FieldError::new(
                        "passive",
                        "missing; give passive and active transition matrices per arm, or up_passive and up_active \
                         chain probabilities per arm",
                    ));
                }
                (Some(_), None, _, _) => {
                    return Err(FieldError::new("active", "missing; passive needs its active matrices"));
                }
                (None, Some(_), _, _) => {
                    return Err(FieldError::new("passive", "missing; active needs its passive matrices"));
                }
                (Some(_), Some(_), _, _) => {
                    return Err(FieldError::new(
                        "up_passive",
                        "give either passive/active matrices or up_passive/up_active chains, not both",
                    ));
                }
                (None, None, Some(_), None) => {
                    return Err(FieldError::new("up_active", "missing; up_passive needs up_active (one per arm)"));
                }
                (None, None, None, Some(_)) => {
                    return Err(FieldError::new("up_passive", "missing; up_active needs up_passive (one per arm)"));
                }
            };
            (source, arms, states, rewards)
        };
        let budget =
            fields.require("budget", fields.count("budget", 1)?, "the most arms pulled per step, e.g. budget = 1")?;
        if budget > arms as u64 {
            return Err(FieldError::new(
                "budget",
                format!("must be at most the number of arms ({arms}), got {budget}"),
            ));
        }
        let start = match fields.table.get("start") {
            None => vec![0; arms],
            Some(Value::Integer(i)) if (0..states as i64).contains(i) => vec![*i as usize; arms],
            Some(Value::Array(list)) if list.len() == arms => list
                .iter()
                .enumerate()
                .map(|(j, v)| match v {
                    Value::Integer(i) if (0..states as i64).contains(i) => Ok(*i as usize),
                    other => Err(FieldError::new(
                        format!("start[{j}]"),
                        format!("must be a state in 0..{states}, got {other}"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(FieldError::new(
                    "start",
                    format!("must be a state in 0..{states} (every arm) or a list of {arms} states, got {other}"),
                ));
            }
        };
        let episode = fields.count("episode", 1)?;
        let benchmark_word = fields.word("benchmark", &["auto", "dp", "lagrangian"])?.unwrap_or("auto");
        let feasible = dp_feasible(arms, states, budget as usize, episode);
        let benchmark = match (benchmark_word, feasible) {
            ("lagrangian", _) => Benchmark::Lagrangian,
            ("dp", Err(why)) => return Err(FieldError::new("benchmark", format!("\"dp\" is not available: {why}"))),
            (_, Ok(())) => Benchmark::Dp,
            (_, Err(_)) => Benchmark::Lagrangian,
        };
        let mut env = Restless {
            source,
            arms,
            states,
            budget: budget as usize,
            rewards,
            start,
            episode,
            benchmark_word,
            benchmark,
            fixed: None,
            drawn: Cache::new(),
        };
        if !matches!(env.source, Source::Random { .. }) {
            env.fixed = Some(Arc::new(Model::new(env.explicit_instance())));
        }
        Ok(env)
    }

    fn explicit_instance(&self) -> Instance {
        let (passive, active) = match &self.source {
            Source::Matrices { passive, active } => (passive.clone(), active.clone()),
            Source::Chains { up_passive, up_active } => (
                up_passive.iter().flat_map(|&p| Instance::chain_matrix(self.states, p)).collect(),
                up_active.iter().flat_map(|&p| Instance::chain_matrix(self.states, p)).collect(),
            ),
            Source::Random { .. } => unreachable!("random instances are drawn per seed"),
        };
        Instance {
            arms: self.arms,
            states: self.states,
            budget: self.budget,
            passive,
            active,
            rewards: self.rewards.clone(),
            start: self.start.clone(),
        }
    }

    /// The instance runs of an experiment with master seed `master_seed` play (a random
    /// instance is drawn from `instance_seed`, or from the master seed when it is absent), with
    /// its cached tables and benchmarks.
    pub fn model(&self, master_seed: u64) -> Arc<Model> {
        match (&self.fixed, &self.source) {
            (Some(m), _) => Arc::clone(m),
            (None, Source::Random { instance_seed }) => {
                let seed = instance_seed.unwrap_or(master_seed);
                self.drawn.get(seed, || {
                    let mut inst = Instance::random(self.arms, self.states, self.budget, seed);
                    inst.start.copy_from_slice(&self.start);
                    Model::new(inst)
                })
            }
            (None, _) => unreachable!("explicit instances are built at parse time"),
        }
    }

    /// The benchmark this environment measures regret against.
    pub fn benchmark(&self) -> Benchmark {
        self.benchmark
    }
}

impl FamilyEnv for Restless {
    fn kind(&self) -> &'static str {
        "restless"
    }

    fn arms(&self) -> usize {
        self.arms
    }

    fn identity(&self) -> String {
        let source = match &self.source {
            Source::Matrices { passive, active } => format!(
                "matrices(passive={},active={},rewards={})",
                fmt_list(passive),
                fmt_list(active),
                fmt_list(&self.rewards)
            ),
            Source::Chains { up_passive, up_active } => format!(
                "chains(up_passive={},up_active={},rewards={})",
                fmt_list(up_passive),
                fmt_list(up_active),
                fmt_list(&self.rewards)
            ),
            Source::Random { instance_seed } => {
                let seed = instance_seed.map_or("experiment".to_string(), |s| s.to_string());
                format!("random(arms={},states={},instance_seed={seed})", self.arms, self.states)
            }
        };
        let start: Vec<String> = self.start.iter().map(usize::to_string).collect();
        let episode = self.episode.map_or("none".to_string(), |e| e.to_string());
        // The benchmark changes what regret is measured against, not the chains or the draws,
        // so it stays out: the same environment under both benchmarks runs the same paths.
        format!("{source};budget={};start=[{}];episode={episode}", self.budget, start.join(","))
    }

    fn default_label(&self) -> String {
        let random = if matches!(self.source, Source::Random { .. }) { "-random" } else { "" };
        format!("restless{random}-k{}-s{}-b{}", self.arms, self.states, self.budget)
    }

    fn reward_name(&self) -> String {
        "sum of every arm's state reward after the transition (Markov chains, fully observed)".into()
    }

    fn regret_name(&self) -> String {
        match self.benchmark {
            Benchmark::Dp => "V*(start) - sum of E[r_t | s_t, a_t]: exact optimum by finite-horizon DP over the joint \
                              state, per episode"
                .into(),
            Benchmark::Lagrangian => "Lagrangian (Whittle) relaxation bound min over lambda of lambda*B*H + sum_j \
                                      V_j(lambda), per episode, minus sum of E[r_t | s_t, a_t] (the bound is >= the \
                                      optimum, so this overstates regret by the relaxation gap)"
                .into(),
        }
    }

    fn write_toml(&self, t: &mut Table) {
        let matrices = |flat: &[f64]| {
            let s = self.states;
            Value::Array(flat.chunks(s * s).map(|m| Value::Array(m.chunks(s).map(floats).collect())).collect())
        };
        match &self.source {
            Source::Random { instance_seed } => {
                t.insert("instance".into(), Value::String("random".into()));
                t.insert("arms".into(), int(self.arms as u64));
                t.insert("states".into(), int(self.states as u64));
                if let Some(s) = instance_seed {
                    t.insert("instance_seed".into(), int(*s));
                }
            }
            Source::Matrices { passive, active } => {
                t.insert("passive".into(), matrices(passive));
                t.insert("active".into(), matrices(active));
            }
            Source::Chains { up_passive, up_active } => {
                t.insert("up_passive".into(), floats(up_passive));
                t.insert("up_active".into(), floats(up_active));
            }
        }
        if !self.rewards.is_empty() {
            t.insert("state_rewards".into(), Value::Array(self.rewards.chunks(self.states).map(floats).collect()));
        }
        t.insert("budget".into(), int(self.budget as u64));
        t.insert("start".into(), Value::Array(self.start.iter().map(|&x| int(x as u64)).collect()));
        if let Some(e) = self.episode {
            t.insert("episode".into(), int(e));
        }
        t.insert("benchmark".into(), Value::String(self.benchmark_word.into()));
    }

    fn check_run(&self, _policy: &PolicySpec, horizon: u64) -> Result<(), String> {
        if self.benchmark == Benchmark::Dp {
            return Ok(()); // dp_feasible capped it at parse time.
        }
        // The Lagrangian bound runs about 100 single-arm DPs over an episode: N × L × S² each.
        let length = self.episode.map_or(horizon, |e| e.min(horizon));
        let work = self.arms as f64 * length as f64 * (self.states * self.states) as f64;
        if work > MAX_BOUND_WORK as f64 {
            return Err(format!(
                "the Lagrangian bound over episodes of {length} steps needs about {work:.1e} arm-state-steps per \
                 subsidy (arms x episode x states^2), above the cap {MAX_BOUND_WORK}; set a shorter `episode`, \
                 fewer arms or a shorter horizon"
            ));
        }
        Ok(())
    }

    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        match super::family_of_policy(policy) {
            Some("restless") if policy.name == "restless-optimal" && self.benchmark != Benchmark::Dp => {
                let why = match (self.benchmark_word, dp_feasible(self.arms, self.states, self.budget, self.episode)) {
                    ("lagrangian", _) => "benchmark = \"lagrangian\" was asked for".to_string(),
                    (_, Err(why)) => why,
                    (_, Ok(())) => String::new(),
                };
                Err(format!("restless-optimal plays the exact DP policy, which this environment does not have ({why})"))
            }
            Some("restless") => Ok(()),
            Some(k) => Err(format!("{} plays {k} environments only", policy.name)),
            None => Err(format!(
                "{} picks one arm per step, but a restless environment pulls a set of up to {} arms each step: use \
                 whittle, restless-myopic, restless-random or restless-optimal",
                policy.name, self.budget
            )),
        }
    }

    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        let model = self.model(run.master_seed);
        let curves = model.curves(self.benchmark, self.episode, run.horizon);
        let inst = &model.instance;
        let mut planner = match policy.def.algorithm {
            "whittle" => Planner::Whittle { index: model.whittle(policy.float("discount")) },
            "restless-myopic" => Planner::myopic(inst, &model.tables),
            "restless-random" => Planner::random(inst),
            "restless-optimal" => Planner::Optimal {
                dp: curves.dp.clone().expect("accepts() admits restless-optimal only with the dp benchmark"),
            },
            other => unreachable!("accepts() admits only the restless policies, not {other}"),
        };
        simulate(&model, &curves, &mut planner, run)
    }
}

/// One run: steps the chains for the run's horizon, resetting at each episode, and accounts
/// regret against `curves`.
pub fn simulate(model: &Model, curves: &Curves, planner: &mut Planner, run: &FamilyRun) -> Outcome {
    let inst = &model.instance;
    let n = inst.arms;
    let mut world = World::new(inst, &model.tables);
    let mut reward_rng = run.stream(Role::Reward);
    let mut policy_rng = run.stream(Role::Policy);
    let mut tracker = Tracker::new(n, run.checkpoints.len());
    let mut pulled = vec![false; n];
    let mut reference = vec![false; n];
    let mut scratch = curves.dp.as_ref().map(|dp| dp.scratch());
    let episode = curves.episode as u64;
    let mut pulls = 0u64;
    let mut curve: &[f64] = &curves.full;
    let mut length = curves.episode;
    for t in 0..run.horizon {
        let tau = (t % episode) as usize;
        if tau == 0 {
            world.reset();
            length = (run.horizon - t).min(episode) as usize;
            curve = if length == curves.episode { &curves.full } else { &curves.tail };
        }
        let steps_left = length - tau;
        let joint = if curves.dp.is_some() { inst.joint_index(world.states()) } else { 0 };
        let count = planner.choose(inst.budget, steps_left, world.states(), joint, &mut policy_rng, &mut pulled);
        let mean = world.expected_reward(&pulled);
        let optimal = match (&curves.dp, &mut scratch) {
            (Some(dp), Some(scratch)) => {
                let mask = pulled.iter().enumerate().fold(0u32, |m, (j, &p)| m | (u32::from(p) << j));
                mask == dp.best(steps_left, joint) || {
                    let v = dp.value(steps_left, joint);
                    let q = dp.q_value(&model.tables, inst, steps_left, world.states(), mask, scratch);
                    q >= v - 1e-9 * (1.0 + v.abs())
                }
            }
            _ => {
                let states = world.states();
                top_positive(|j| model.reference.of(j, states[j]), inst.budget, &mut reference);
                reference == pulled
            }
        };
        let reward = world.advance(&pulled, &mut reward_rng);
        for (c, &p) in tracker.counts.iter_mut().zip(&pulled) {
            *c += u64::from(p);
        }
        pulls += count as u64;
        tracker.account(mean, reward, curve[tau], optimal, run.checkpoints);
    }
    let mut measures = vec![
        Measure { name: "pulls-per-step", value: pulls as f64 / run.horizon.max(1) as f64 },
        Measure { name: "benchmark-value", value: curves.total },
    ];
    if let Planner::Whittle { index } = planner {
        measures.push(Measure { name: "non-indexable-arms", value: index.non_indexable() as f64 });
    }
    tracker.finish(&model.rank, run.checkpoints, 0.0, measures)
}
