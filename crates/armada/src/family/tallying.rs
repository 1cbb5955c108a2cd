//! Weighted tallying bandits (Malik, Igoe, Li, Singh, ICML 2023): the loss of an arm depends on
//! how often it was played in the last m steps.
//!
//! K arms, memory m, weights w_1..w_m ≥ 0 with W = Σ w_j. The tally of arm a at step t is
//! y_{a,t} = Σ_{j=1..m} w_j·1{a_{t−j} = a}; playing a draws a Bernoulli loss with mean
//! f_a(y_{a,t}) ∈ [0, 1]. Each f_a is given as a curve of the tally share y/W ∈ [0, 1]
//! ([`LossCurve`]). A run starts from an empty history (no plays before the first step). Armada
//! maximises reward, so a policy is paid 1 − loss and its regret in reward terms is the
//! complete policy regret (CPR) in loss terms:
//! E Σ_t f_{a_t}(y_{a_t,t}) − min over all action sequences of the same expected total loss.
//!
//! The benchmark ([`Benchmark`]) is one of:
//! - **best-sequence**: the exact minimum over all K^T sequences, by dynamic programming over the
//!   window of the last m actions (K^m states; the first m steps, whose window is partly empty,
//!   by enumerating the K^m prefixes). It is computed once per horizon and cached in the
//!   environment value, so every seed and policy reuses it. One DP step costs about 3·K^m
//!   operations; the whole DP takes 2 sweeps of T steps while `T × K^m ≤ 2^22`, and one more per
//!   checkpoint level beyond (the optimal sequence is then rebuilt from value vectors saved at
//!   intervals, so the DP's tables stay bounded whatever T; the plan itself keeps an action
//!   and a loss per step). The parser refuses windows with K^(m+1) > 2^20 transitions, and the
//!   spec check refuses K^m × T > 2^32 and horizons above 2^26 steps.
//! - **reo-arm**: under Repeated Exposure Optimality (some arm a* with f_{a*}(W) ≤ f_a(y) for
//!   every arm a and tally y in [0, W]), "always play a*" from the empty history. Its loss is
//!   within m of the best sequence's, so this regret is CPR minus a number in [0, m]. Used when
//!   the window is too large for the DP (or when asked for).
//!
//! The curves compare the policy with the benchmark sequence step by step (regret at a
//! checkpoint = the policy's expected loss so far − the benchmark sequence's loss so far).
//! OptFrac is the share of steps on which the policy played the benchmark sequence's action at
//! that step (under reo-arm: a*). Arms are ranked by their loss when played every step, f_a(W),
//! lowest first.
//!
//! Policies: `block-se` ([`BlockElimination`]) and every classic policy, which plays blind to
//! the memory. Measures: `switches` (steps whose action differs from the previous one) for
//! every policy, and `settled-at` (the step after which block-se had one arm left; the horizon
//! if it never did) for block-se.

use super::{FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome, Tracker, floats, fmt_list, int};
use crate::env::RewardModel;
use crate::policy::{BanditInfo, ParamDef, ParamKind, ParamValue, Policy, PolicyDef, PolicySpec, PolicyVisitor};
use crate::rng::{self, Role, Stream};
use std::fmt;
use std::sync::{Arc, Mutex};
use toml::{Table, Value};

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[PolicyDef {
    name: "block-se",
    algorithm: "block-se",
    contextual: false,
    summary: "block successive elimination: in phase i each active arm is played M + 2^i times in a row, the \
              first M losses of a block dropped; arms whose loss LCB exceeds the best UCB are eliminated, then \
              the survivor is played for good",
    reference: "Malik, Igoe, Li, Singh (ICML 2023), weighted tallying bandits; block lengths and radius are \
                Armada's choices",
    params: &[ParamDef {
        name: "memory_bound",
        kind: ParamKind::Count { min: 0 },
        default: ParamValue::Auto,
        doc: "M, a known bound on the memory m: plays dropped at the start of each block; auto = the environment's m",
    }],
}];

/// The registry entry of this family.
pub const KIND: FamilyKind =
    FamilyKind { kind: "tallying", keys: &["memory", "weights", "losses", "benchmark"], parse, policies: POLICIES };

/// Most arms an environment may have.
pub const MAX_ARMS: usize = 4096;
/// Longest memory m.
pub const MAX_MEMORY: u64 = 1024;
/// Most points of a `table` loss curve.
pub const MAX_TABLE_POINTS: usize = 4097;
/// Most window transitions K^m × K the best-sequence DP accepts (so at most 2^19 windows: 4 MiB
/// per value vector).
pub const MAX_TRANSITIONS: u64 = 1 << 20;
/// Longest horizon: the benchmark's plan costs 10 bytes a step (640 MiB here).
pub const MAX_PLAN_STEPS: u64 = 1 << 26;
/// Largest arms^memory × horizon of the best-sequence DP (checked when the spec is read).
pub const MAX_DP_CELLS: u64 = 1 << 32;
/// Cells (state × step) of one argmin table of the DP's reconstruction (u16 each: 8 MiB).
const LEAF_CELLS: usize = 1 << 22;
/// Bytes of saved value vectors per checkpoint level of the DP's reconstruction.
const LEVEL_BYTES: usize = 64 << 20;

fn parse(fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    Ok(Arc::new(Tallying::from_fields(fields)?))
}

/// Parses a `kind = "tallying"` table (without name, kind and horizon), for callers outside the
/// spec layer (tests, tools).
pub fn parse_table(table: &Table) -> Result<Tallying, FieldError> {
    Tallying::from_fields(&Fields::new(table))
}

/// An arm's expected loss as a function of its tally share r = y/W ∈ [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub enum LossCurve {
    /// f = mean whatever the tally.
    Constant { mean: f64 },
    /// f(r) = at_zero + (at_full − at_zero)·r^exponent (e.g. 1 − 0.9 r²: improves with exposure).
    Power { at_zero: f64, at_full: f64, exponent: f64 },
    /// f at r = 0, 1/(n−1), …, 1 given by `values`, linear in between (with unit weights and
    /// m + 1 values, one value per possible count).
    Table { values: Vec<f64> },
}

impl LossCurve {
    /// The expected loss at tally share `share` (clamped to [0, 1]).
    #[inline]
    pub fn at(&self, share: f64) -> f64 {
        let r = share.clamp(0.0, 1.0);
        let f = match self {
            LossCurve::Constant { mean } => *mean,
            LossCurve::Power { at_zero, at_full, exponent } => {
                let p = r.powf(*exponent);
                (1.0 - p) * at_zero + p * at_full
            }
            LossCurve::Table { values } => {
                let x = r * (values.len() - 1) as f64;
                let i = (x.floor() as usize).min(values.len() - 2);
                let frac = x - i as f64;
                (1.0 - frac) * values[i] + frac * values[i + 1]
            }
        };
        f.clamp(0.0, 1.0)
    }

    /// The smallest loss over the whole share range [0, 1].
    pub fn lowest(&self) -> f64 {
        match self {
            LossCurve::Constant { mean } => *mean,
            // Monotone between its ends.
            LossCurve::Power { at_zero, at_full, .. } => at_zero.min(*at_full),
            LossCurve::Table { values } => values.iter().copied().fold(f64::INFINITY, f64::min),
        }
    }

    fn describe(&self) -> String {
        match self {
            LossCurve::Constant { mean } => format!("constant({mean})"),
            LossCurve::Power { at_zero, at_full, exponent } => format!("power({at_zero},{at_full},{exponent})"),
            LossCurve::Table { values } => format!("table({})", fmt_list(values)),
        }
    }

    fn to_toml(&self) -> Value {
        let mut t = Table::new();
        match self {
            LossCurve::Constant { mean } => {
                t.insert("shape".into(), Value::String("constant".into()));
                t.insert("mean".into(), Value::Float(*mean));
            }
            LossCurve::Power { at_zero, at_full, exponent } => {
                t.insert("shape".into(), Value::String("power".into()));
                t.insert("at_zero".into(), Value::Float(*at_zero));
                t.insert("at_full".into(), Value::Float(*at_full));
                t.insert("exponent".into(), Value::Float(*exponent));
            }
            LossCurve::Table { values } => {
                t.insert("shape".into(), Value::String("table".into()));
                t.insert("values".into(), floats(values));
            }
        }
        Value::Table(t)
    }

    /// Parses `losses[i]`; errors name `losses[i].key`.
    fn parse(value: &Value, i: usize) -> Result<Self, FieldError> {
        let at = |e: FieldError| FieldError::new(format!("losses[{i}].{}", e.key), e.message);
        let Value::Table(t) = value else {
            return Err(FieldError::new(
                format!("losses[{i}]"),
                format!("must be a table such as {{ shape = \"constant\", mean = 0.3 }}, got {value}"),
            ));
        };
        let f = Fields::new(t);
        let shape = f.word("shape", &["constant", "power", "table"]).map_err(at)?;
        let shape = f.require("shape", shape, "\"constant\", \"power\" or \"table\"").map_err(at)?;
        let allowed: &[&str] = match shape {
            "constant" => &["shape", "mean"],
            "power" => &["shape", "at_zero", "at_full", "exponent"],
            _ => &["shape", "values"],
        };
        if let Some(key) = t.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(at(FieldError::new(
                key.as_str(),
                format!("unknown key for a {shape} loss; it takes {}", allowed.join(", ")),
            )));
        }
        let unit = |key: &str, what: &str| -> Result<f64, FieldError> {
            let x = f.number_in(key, 0.0, 1.0).map_err(at)?;
            f.require(key, x, what).map_err(at)
        };
        match shape {
            "constant" => Ok(LossCurve::Constant { mean: unit("mean", "the expected loss, in [0, 1]")? }),
            "power" => {
                let at_zero = unit("at_zero", "the expected loss with tally 0, in [0, 1]")?;
                let at_full = unit("at_full", "the expected loss with a full tally (y = W), in [0, 1]")?;
                let exponent = f.number_in("exponent", 0.0, 100.0).map_err(at)?.unwrap_or(1.0);
                if exponent <= 0.0 {
                    return Err(at(FieldError::new("exponent", "must be positive (0 < exponent ≤ 100)")));
                }
                Ok(LossCurve::Power { at_zero, at_full, exponent })
            }
            _ => {
                let values = f.numbers("values").map_err(at)?;
                let values = f
                    .require("values", values, "the expected losses at tally shares 0, …, 1 (at least 2)")
                    .map_err(at)?;
                if !(2..=MAX_TABLE_POINTS).contains(&values.len()) {
                    return Err(at(FieldError::new(
                        "values",
                        format!("has {} entries; give between 2 and {MAX_TABLE_POINTS}", values.len()),
                    )));
                }
                if let Some(j) = values.iter().position(|v| !(0.0..=1.0).contains(v)) {
                    return Err(at(FieldError::new(
                        format!("values[{j}]"),
                        format!("must be in [0, 1] (an expected loss), got {}", values[j]),
                    )));
                }
                Ok(LossCurve::Table { values })
            }
        }
    }
}

/// What regret is measured against (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Benchmark {
    /// The best action sequence of the run's horizon, by dynamic programming.
    BestSequence,
    /// Always the Repeated-Exposure-Optimal arm a*.
    ReoArm,
}

impl Benchmark {
    fn name(self) -> &'static str {
        match self {
            Benchmark::BestSequence => "best-sequence",
            Benchmark::ReoArm => "reo-arm",
        }
    }
}

/// How tallies are weighed: all weights equal (the tally share is count / m) or not.
#[derive(Clone, Debug, PartialEq)]
enum Weighing {
    Uniform,
    /// w_1..w_m and W = Σ w_j (summed in that order).
    Weighted {
        weights: Vec<f64>,
        total: f64,
    },
}

impl Weighing {
    /// The tally share y/W of an arm, given which of the last m steps played it (`hit(j)`: the
    /// step j + 1 steps ago). The same arithmetic everywhere (DP, environment, benchmark), so
    /// every part of Armada sees bit-identical losses.
    #[inline]
    fn share(&self, m: usize, mut hit: impl FnMut(usize) -> bool) -> f64 {
        match self {
            Weighing::Uniform => (0..m).filter(|&j| hit(j)).count() as f64 / m as f64,
            Weighing::Weighted { weights, total } => {
                let mut y = 0.0;
                for (j, w) in weights.iter().enumerate() {
                    if hit(j) {
                        y += w;
                    }
                }
                y / total
            }
        }
    }
}

/// The last m actions of a run (empty slots before the first m steps), with per-arm counts.
struct Window {
    /// Ring of actions; `NONE` marks an empty slot.
    ring: Vec<u32>,
    /// Where the next action goes (the slot of the oldest one).
    pos: usize,
    counts: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Window {
    fn new(arms: usize, m: usize) -> Self {
        Window { ring: vec![NONE; m], pos: 0, counts: vec![0; arms] }
    }

    /// The tally share of `arm` now.
    #[inline]
    fn share(&self, weighing: &Weighing, arm: usize) -> f64 {
        let m = self.ring.len();
        match weighing {
            Weighing::Uniform => self.counts[arm] as f64 / m as f64,
            _ => {
                let target = arm as u32;
                let (ring, pos) = (&self.ring, self.pos);
                weighing.share(m, |j| ring[(pos + m - 1 - j) % m] == target)
            }
        }
    }

    #[inline]
    fn push(&mut self, arm: usize) {
        let old = self.ring[self.pos];
        if old != NONE {
            self.counts[old as usize] -= 1;
        }
        self.ring[self.pos] = arm as u32;
        self.counts[arm] += 1;
        self.pos += 1;
        if self.pos == self.ring.len() {
            self.pos = 0;
        }
    }
}

/// The benchmark of one horizon: an action sequence and its expected loss at every step.
#[derive(Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<u16>,
    /// Expected loss of each step of the sequence, from the empty history.
    pub losses: Vec<f64>,
    /// Σ losses: the sequence's expected total loss.
    pub total: f64,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plan(T = {}, total = {})", self.actions.len(), self.total)
    }
}

/// Benchmarks computed so far, by horizon (shared by every run on the environment).
#[derive(Default)]
struct PlanCache(Mutex<Vec<(u64, Arc<Plan>)>>);

impl fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let horizons: Vec<u64> = plans.iter().map(|(h, _)| *h).collect();
        write!(f, "PlanCache(horizons {horizons:?})")
    }
}

/// A weighted tallying environment, validated.
#[derive(Debug)]
pub struct Tallying {
    curves: Vec<LossCurve>,
    memory: usize,
    weighing: Weighing,
    /// The weights as given (`None`: all 1).
    weights: Option<Vec<f64>>,
    benchmark: Benchmark,
    /// The Repeated-Exposure-Optimal arm, if the instance has one.
    reo_arm: Option<usize>,
    /// Arms by f_a(W), lowest loss first.
    rank: Vec<usize>,
    plans: PlanCache,
}

impl Tallying {
    fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        let memory = f.count("memory", 1)?;
        let memory = f.require("memory", memory, "m, the number of past steps a tally counts (≥ 1)")?;
        if memory > MAX_MEMORY {
            return Err(FieldError::new(
                "memory",
                format!("is {memory}; at most {MAX_MEMORY} past steps are supported"),
            ));
        }
        let m = memory as usize;
        let weights = f.numbers("weights")?;
        if let Some(w) = &weights {
            if w.len() != m {
                return Err(FieldError::new(
                    "weights",
                    format!("has {} entries but memory = {m}; give w_1 (last step) … w_m (m steps ago)", w.len()),
                ));
            }
            if let Some(j) = w.iter().position(|&x| x < 0.0) {
                return Err(FieldError::new(format!("weights[{j}]"), format!("must be ≥ 0, got {}", w[j])));
            }
            let total: f64 = w.iter().sum();
            if total <= 0.0 {
                return Err(FieldError::new("weights", "must not all be 0 (the tally share y/W needs W > 0)"));
            }
            if !total.is_finite() {
                return Err(FieldError::new("weights", "sum to more than a float can hold; scale them down"));
            }
        }
        let curves: Vec<LossCurve> = match f.table.get("losses") {
            None => {
                return Err(FieldError::new(
                    "losses",
                    "missing; one table per arm, e.g. losses = [{ shape = \"power\", at_zero = 1.0, at_full = 0.1, \
                     exponent = 2.0 }, { shape = \"constant\", mean = 0.3 }]",
                ));
            }
            Some(Value::Array(list)) => {
                list.iter().enumerate().map(|(i, v)| LossCurve::parse(v, i)).collect::<Result<_, _>>()?
            }
            Some(other) => {
                return Err(FieldError::new("losses", format!("must be a list of tables (one per arm), got {other}")));
            }
        };
        if curves.is_empty() || curves.len() > MAX_ARMS {
            return Err(FieldError::new(
                "losses",
                format!("has {} arms; give between 1 and {MAX_ARMS} loss tables", curves.len()),
            ));
        }
        let k = curves.len();
        let weighing = match &weights {
            Some(w) if w.iter().any(|&x| x != w[0]) => Weighing::Weighted { weights: w.clone(), total: w.iter().sum() },
            _ => Weighing::Uniform,
        };
        let reo_arm = reo_arm(&curves);
        let transitions = transitions(k, m);
        let requested = f.word("benchmark", &["auto", "best-sequence", "reo-arm"])?.unwrap_or("auto");
        let too_big = || {
            format!(
                "the best-sequence DP over the last-m window has K^(m+1) = {k}^{} transitions, more than the cap \
                 {MAX_TRANSITIONS}; shrink the arms or the memory",
                m + 1
            )
        };
        let benchmark = match requested {
            "best-sequence" if transitions > MAX_TRANSITIONS => return Err(FieldError::new("benchmark", too_big())),
            "best-sequence" => Benchmark::BestSequence,
            "reo-arm" if reo_arm.is_none() => {
                return Err(FieldError::new(
                    "benchmark",
                    "\"reo-arm\" needs an arm a* whose loss at a full tally is no larger than any arm's loss at any \
                     tally; this instance has none. Use \"best-sequence\"",
                ));
            }
            "reo-arm" => Benchmark::ReoArm,
            _ if transitions <= MAX_TRANSITIONS => Benchmark::BestSequence,
            _ if reo_arm.is_some() => Benchmark::ReoArm,
            _ => {
                return Err(FieldError::new(
                    "memory",
                    format!("{}; no arm is Repeated-Exposure-Optimal, so \"reo-arm\" cannot stand in", too_big()),
                ));
            }
        };
        let mut rank: Vec<usize> = (0..k).collect();
        rank.sort_by(|&a, &b| curves[a].at(1.0).total_cmp(&curves[b].at(1.0)).then(a.cmp(&b)));
        let weights = weights.filter(|w| w.iter().any(|&x| x != 1.0));
        Ok(Tallying { curves, memory: m, weighing, weights, benchmark, reo_arm, rank, plans: PlanCache::default() })
    }

    /// The memory m.
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// The benchmark in use.
    pub fn benchmark_kind(&self) -> Benchmark {
        self.benchmark
    }

    /// The Repeated-Exposure-Optimal arm, if any.
    pub fn reo_arm(&self) -> Option<usize> {
        self.reo_arm
    }

    /// Each arm's loss curve.
    pub fn curves(&self) -> &[LossCurve] {
        &self.curves
    }

    /// The exact expected total loss of playing `actions` (each below the number of arms) from
    /// the empty history.
    pub fn expected_loss(&self, actions: &[usize]) -> f64 {
        let mut window = Window::new(self.curves.len(), self.memory);
        let mut total = 0.0;
        for &a in actions {
            total += self.curves[a].at(window.share(&self.weighing, a));
            window.push(a);
        }
        total
    }

    /// The benchmark sequence of `horizon` steps (computed once per horizon, then shared).
    pub fn benchmark(&self, horizon: u64) -> Arc<Plan> {
        // Held while computing: runs that need the same plan wait instead of repeating it.
        let mut plans = self.plans.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, p)) = plans.iter().find(|(h, _)| *h == horizon) {
            return Arc::clone(p);
        }
        let actions = match (self.benchmark, self.reo_arm) {
            (Benchmark::ReoArm, Some(star)) => vec![star as u16; horizon as usize],
            _ => Oracle::new(self, LEAF_CELLS).best_sequence(horizon),
        };
        let plan = Arc::new(self.plan_of(actions));
        plans.push((horizon, Arc::clone(&plan)));
        plan
    }

    /// A plan from its actions: the expected loss of each step.
    fn plan_of(&self, actions: Vec<u16>) -> Plan {
        let mut window = Window::new(self.curves.len(), self.memory);
        let losses: Vec<f64> = actions
            .iter()
            .map(|&a| {
                let a = a as usize;
                let loss = self.curves[a].at(window.share(&self.weighing, a));
                window.push(a);
                loss
            })
            .collect();
        Plan { total: losses.iter().sum(), actions, losses }
    }
}

/// The Repeated-Exposure-Optimal arm: the lowest f_a(W) among arms with f_a(W) ≤ every arm's
/// lowest loss over the whole tally range (a sufficient check: only subset sums of the weights
/// are reachable). Ties go to the lower index.
fn reo_arm(curves: &[LossCurve]) -> Option<usize> {
    let floor = curves.iter().map(LossCurve::lowest).fold(f64::INFINITY, f64::min);
    (0..curves.len())
        .filter(|&a| curves[a].at(1.0) <= floor)
        .min_by(|&a, &b| curves[a].at(1.0).total_cmp(&curves[b].at(1.0)).then(a.cmp(&b)))
}

/// K^m × K, saturating.
fn transitions(k: usize, m: usize) -> u64 {
    let mut n = k as u64;
    for _ in 0..m {
        n = n.saturating_mul(k as u64);
    }
    n
}

/// The best-sequence oracle: a backward DP over windows of the last m actions.
///
/// A window is s = Σ_{j<m} a_{t−1−j}·K^j (digit 0 the last action). Playing a moves it to
/// a + K·(s mod K^(m−1)); V_t(s) = min_a loss(s, a) + V_{t+1}(next(s, a)), V_T = 0. The first m
/// steps (window partly empty) are settled by enumerating every prefix of m actions. To rebuild
/// the optimal sequence without keeping T value vectors, the sweep saves V at a few boundaries;
/// each segment between two of them is solved again, recursively, until a segment's argmin
/// table fits in [`LEAF_CELLS`]. Ties go to the lowest action (lexicographically first
/// sequence among the optimal ones reachable this way).
///
/// One DP step costs O(K^m), not O(K^(m+1)): write s = oldest·K^(m−1) + r. Windows sharing r
/// share their successors, and loss(s, a) depends on the oldest action only through whether it
/// is a. So for each r the best and second-best of "a played, oldest slot not a" are found once,
/// and each oldest action then only weighs in its own "oldest slot is a" value.
struct Oracle<'a> {
    env: &'a Tallying,
    k: usize,
    m: usize,
    states: usize,
    /// K^(m−1).
    low: usize,
    /// unheld[r·K + a]: loss of a in a window whose m − 1 newest actions are r and whose oldest
    /// action is not a.
    unheld: Vec<f64>,
    /// held[r·K + a]: the same when the oldest action is a.
    held: Vec<f64>,
    leaf_cells: usize,
}

impl<'a> Oracle<'a> {
    fn new(env: &'a Tallying, leaf_cells: usize) -> Self {
        let (k, m) = (env.curves.len(), env.memory);
        let low = k.pow(m as u32 - 1);
        let (mut unheld, mut held) = (vec![0.0; low * k], vec![0.0; low * k]);
        let mut digits = vec![0usize; m - 1];
        for r in 0..low {
            let mut rest = r;
            for d in digits.iter_mut() {
                *d = rest % k;
                rest /= k;
            }
            for a in 0..k {
                // The same arithmetic as the environment's: the oldest slot is j = m − 1.
                let curve = &env.curves[a];
                unheld[r * k + a] = curve.at(env.weighing.share(m, |j| j + 1 < m && digits[j] == a));
                held[r * k + a] = curve.at(env.weighing.share(m, |j| j + 1 == m || digits[j] == a));
            }
        }
        Oracle { env, k, m, states: low * k, low, unheld, held, leaf_cells: leaf_cells.max(1) }
    }

    #[inline]
    fn next(&self, s: usize, a: usize) -> usize {
        a + self.k * (s % self.low)
    }

    /// `out` = V_t from `next` = V_{t+1}; with `arg`, the minimising actions too (the lowest
    /// one on ties).
    #[inline]
    fn back(&self, next: &[f64], out: &mut [f64], mut arg: Option<&mut [u16]>) {
        let (k, low) = (self.k, self.low);
        for r in 0..low {
            let succ = &next[r * k..(r + 1) * k];
            let unheld = &self.unheld[r * k..(r + 1) * k];
            let held = &self.held[r * k..(r + 1) * k];
            // The (value, action)-smallest and second-smallest of unheld + succ.
            let (mut v1, mut a1, mut v2, mut a2) = (f64::INFINITY, 0, f64::INFINITY, 0);
            for (a, (u, n)) in unheld.iter().zip(succ).enumerate() {
                let v = u + n;
                if v < v1 {
                    (v2, a2, v1, a1) = (v1, a1, v, a);
                } else if v < v2 {
                    (v2, a2) = (v, a);
                }
            }
            for oldest in 0..k {
                let (bv, ba) = if oldest == a1 { (v2, a2) } else { (v1, a1) };
                let own = held[oldest] + succ[oldest];
                let (v, a) = if own < bv || (own == bv && oldest < ba) { (own, oldest) } else { (bv, ba) };
                let s = oldest * low + r;
                out[s] = v;
                if let Some(arg) = arg.as_deref_mut() {
                    arg[s] = a as u16;
                }
            }
        }
    }

    /// Steps `v` back from V_{t1} to V_{t0}, with the argmin table of every step when `arg` is
    /// given (row i for step t0 + i).
    fn sweep(&self, v: &mut Vec<f64>, t0: u64, t1: u64, mut arg: Option<&mut [u16]>) {
        let mut tmp = vec![0.0; self.states];
        for t in (t0..t1).rev() {
            let row = arg.as_deref_mut().map(|a| {
                let i = (t - t0) as usize;
                &mut a[i * self.states..(i + 1) * self.states]
            });
            self.back(v, &mut tmp, row);
            std::mem::swap(v, &mut tmp);
        }
    }

    /// How many pieces to cut a segment of `len` steps into for checkpointing.
    fn pieces(&self, len: u64) -> u64 {
        let per_level = (LEVEL_BYTES / (8 * self.states)).clamp(2, 64) as u64;
        let wanted = (len as usize).saturating_mul(self.states).div_ceil(self.leaf_cells) as u64;
        wanted.clamp(2, per_level).min(len)
    }

    /// The optimal actions of steps t0..t1 from window `state` at t0, given V_{t1} (`v_end`);
    /// returns the window at t1.
    fn descend(&self, t0: u64, t1: u64, v_end: Vec<f64>, mut state: usize, actions: &mut [u16]) -> usize {
        let len = t1 - t0;
        if len <= 1 || (len as usize).saturating_mul(self.states) <= self.leaf_cells {
            let mut arg = vec![0u16; len as usize * self.states];
            let mut v = v_end;
            self.sweep(&mut v, t0, t1, Some(&mut arg));
            for (i, slot) in actions.iter_mut().enumerate() {
                let a = arg[i * self.states + state];
                *slot = a;
                state = self.next(state, a as usize);
            }
            return state;
        }
        let n = self.pieces(len);
        let bound = |i: u64| t0 + len * i / n;
        // ends[i] = V at bound(i + 1).
        let mut ends = Vec::with_capacity(n as usize);
        let mut v = v_end;
        for i in (1..=n).rev() {
            ends.push(v.clone());
            if i > 1 {
                self.sweep(&mut v, bound(i - 1), bound(i), None);
            }
        }
        ends.reverse();
        for (i, end) in ends.into_iter().enumerate() {
            let (a, b) = (bound(i as u64), bound(i as u64 + 1));
            state = self.descend(a, b, end, state, &mut actions[(a - t0) as usize..(b - t0) as usize]);
        }
        state
    }

    /// The lexicographically first prefix of `depth` actions minimising its own loss from the
    /// empty history plus `v_after` of the window it leaves (0 when `v_after` is None).
    fn best_prefix(&self, depth: usize, v_after: Option<&[f64]>) -> Vec<u16> {
        let mut best = (f64::INFINITY, Vec::new());
        let mut seq = Vec::with_capacity(depth);
        self.prefix_search(&mut seq, 0.0, depth, v_after, &mut best);
        best.1
    }

    fn prefix_search(
        &self,
        seq: &mut Vec<u16>,
        cost: f64,
        depth: usize,
        v_after: Option<&[f64]>,
        best: &mut (f64, Vec<u16>),
    ) {
        if seq.len() == depth {
            let tail = v_after.map_or(0.0, |v| v[self.window_of(seq)]);
            if cost + tail < best.0 {
                *best = (cost + tail, seq.clone());
            }
            return;
        }
        for a in 0..self.k {
            let n = seq.len();
            let share = self.env.weighing.share(self.m, |j| j < n && seq[n - 1 - j] as usize == a);
            let loss = self.env.curves[a].at(share);
            seq.push(a as u16);
            self.prefix_search(seq, cost + loss, depth, v_after, best);
            seq.pop();
        }
    }

    /// The window after exactly m actions `seq`.
    fn window_of(&self, seq: &[u16]) -> usize {
        seq.iter().fold(0, |s, &a| s % self.low * self.k + a as usize)
    }

    /// An optimal sequence of `horizon` actions from the empty history.
    fn best_sequence(&self, horizon: u64) -> Vec<u16> {
        let m = self.m as u64;
        if horizon <= m {
            return self.best_prefix(horizon as usize, None);
        }
        let len = horizon - m;
        let mut actions = vec![0u16; horizon as usize];
        let (head, tail) = actions.split_at_mut(self.m);
        if (len as usize).saturating_mul(self.states) <= self.leaf_cells {
            let mut arg = vec![0u16; len as usize * self.states];
            let mut v = vec![0.0; self.states];
            self.sweep(&mut v, m, horizon, Some(&mut arg));
            let prefix = self.best_prefix(self.m, Some(&v));
            head.copy_from_slice(&prefix);
            let mut state = self.window_of(&prefix);
            for (i, slot) in tail.iter_mut().enumerate() {
                let a = arg[i * self.states + state];
                *slot = a;
                state = self.next(state, a as usize);
            }
            return actions;
        }
        let n = self.pieces(len);
        let bound = |i: u64| m + len * i / n;
        let mut ends = Vec::with_capacity(n as usize);
        let mut v = vec![0.0; self.states];
        for i in (1..=n).rev() {
            ends.push(v.clone());
            self.sweep(&mut v, bound(i - 1), bound(i), None);
        }
        ends.reverse();
        let prefix = self.best_prefix(self.m, Some(&v));
        head.copy_from_slice(&prefix);
        let mut state = self.window_of(&prefix);
        for (i, end) in ends.into_iter().enumerate() {
            let (a, b) = (bound(i as u64), bound(i as u64 + 1));
            state = self.descend(a, b, end, state, &mut tail[(a - m) as usize..(b - m) as usize]);
        }
        actions
    }
}

impl FamilyEnv for Tallying {
    fn kind(&self) -> &'static str {
        "tallying"
    }

    fn arms(&self) -> usize {
        self.curves.len()
    }

    fn identity(&self) -> String {
        let curves: Vec<String> = self.curves.iter().map(LossCurve::describe).collect();
        let weights = match &self.weights {
            Some(w) => fmt_list(w),
            None => "ones".into(),
        };
        format!("k={};m={};weights={weights};losses=[{}]", self.curves.len(), self.memory, curves.join(","))
    }

    fn default_label(&self) -> String {
        format!("tallying-k{}-m{}", self.curves.len(), self.memory)
    }

    fn reward_name(&self) -> String {
        "bernoulli losses with mean f_a(tally of the last m plays); reward = 1 - loss".into()
    }

    fn regret_name(&self) -> String {
        match self.benchmark {
            Benchmark::BestSequence => {
                "complete policy regret vs the best action sequence from an empty history (exact DP over the \
                 last-m window)"
                    .into()
            }
            Benchmark::ReoArm => format!(
                "complete policy regret vs always playing the repeated-exposure-optimal arm {} (within m = {} of the \
                 best sequence)",
                self.reo_arm.unwrap_or(0),
                self.memory
            ),
        }
    }

    fn write_toml(&self, t: &mut Table) {
        t.insert("memory".into(), int(self.memory as u64));
        if let Some(w) = &self.weights {
            t.insert("weights".into(), floats(w));
        }
        t.insert("losses".into(), Value::Array(self.curves.iter().map(LossCurve::to_toml).collect()));
        t.insert("benchmark".into(), Value::String(self.benchmark.name().into()));
    }

    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        super::accept_own_and_classic("tallying", policy)
    }

    fn check_run(&self, _policy: &PolicySpec, horizon: u64) -> Result<(), String> {
        // The benchmark's plan keeps an action and a loss per step (10 bytes).
        if horizon > MAX_PLAN_STEPS {
            return Err(format!(
                "the benchmark keeps its plan step by step (10 bytes a step); horizons above {MAX_PLAN_STEPS} are \
                 refused: shorten the horizon"
            ));
        }
        if self.benchmark != Benchmark::BestSequence {
            return Ok(());
        }
        // The DP costs about K^m cells per step (measured: 6 ns a cell, so the cap is ~25 s).
        let cells = (self.curves.len() as f64).powi(self.memory() as i32) * horizon as f64;
        if cells > MAX_DP_CELLS as f64 {
            return Err(format!(
                "the exact best-sequence benchmark needs about {cells:.1e} DP cells (arms^memory x horizon), above \
                 the cap {MAX_DP_CELLS}; shorten the horizon, shrink the arms or the memory, or set \
                 benchmark = \"reo-arm\" when one arm is repeated-exposure optimal"
            ));
        }
        Ok(())
    }

    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        let plan = self.benchmark(run.horizon);
        let game = Game { env: self, plan: &plan, run };
        if policy.def.algorithm == "block-se" {
            let bound = policy.count_or_auto("memory_bound").unwrap_or(self.memory as u64);
            let mut p = BlockElimination::new(self.curves.len(), run.horizon, bound);
            let (tracker, switches) = game.play(&mut p);
            let settled = p.settled_at().unwrap_or(run.horizon);
            let measures = vec![
                Measure { name: "switches", value: switches as f64 },
                Measure { name: "settled-at", value: settled as f64 },
            ];
            return tracker.finish(&self.rank, run.checkpoints, 0.0, measures);
        }
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: self.curves.len(), horizon: run.horizon, reward_model: &model };
        let (tracker, switches) = policy.build(&info).visit(game);
        tracker.finish(&self.rank, run.checkpoints, 0.0, vec![Measure { name: "switches", value: switches as f64 }])
    }
}

/// One run: the environment, its benchmark plan and the run's inputs.
struct Game<'a> {
    env: &'a Tallying,
    plan: &'a Plan,
    run: &'a FamilyRun<'a>,
}

impl PolicyVisitor for Game<'_> {
    type Output = (Tracker, u64);
    fn visit<P: Policy>(self, policy: &mut P) -> (Tracker, u64) {
        self.play(policy)
    }
}

impl Game<'_> {
    /// The hot loop: select, draw the loss, update, account. One uniform draw per step whatever
    /// the action (common random numbers); no allocation.
    #[inline(never)]
    fn play<P: Policy>(&self, policy: &mut P) -> (Tracker, u64) {
        let env = self.env;
        let (k, checkpoints) = (env.curves.len(), self.run.checkpoints);
        let mut reward_rng: Stream = self.run.stream(Role::Reward);
        let mut policy_rng: Stream = self.run.stream(Role::Policy);
        let mut window = Window::new(k, env.memory);
        let mut tracker = Tracker::new(k, checkpoints.len());
        let mut switches = 0u64;
        let mut previous = usize::MAX;
        for (&bench_action, &bench_loss) in self.plan.actions.iter().zip(&self.plan.losses) {
            let arm = policy.select(&mut policy_rng);
            let mean = env.curves[arm].at(window.share(&env.weighing, arm));
            let loss = if rng::uniform(&mut reward_rng) < mean { 1.0 } else { 0.0 };
            policy.update(arm, 1.0 - loss, &mut policy_rng);
            tracker.step(arm, 1.0 - mean, 1.0 - loss, 1.0 - bench_loss, arm == bench_action as usize, checkpoints);
            switches += u64::from(previous != usize::MAX && arm != previous);
            previous = arm;
            window.push(arm);
        }
        (tracker, switches)
    }
}

/// Block successive elimination for tallying bandits (the paper's idea; the concrete schedule
/// is Armada's).
///
/// Phase i = 1, 2, …: each active arm, in index order, is played M + n_i times in a row with
/// n_i = 2^i. The first M losses of a block are dropped (with M ≥ m the arm's tally is then
/// full, so the kept n_i losses sample f_a(W)). After the phase every active arm has n kept
/// samples and radius r = √(ln T / (2n)); arm a is eliminated if its lower bound exceeds the
/// smallest upper bound, mean_a − r > min_b (mean_b + r). The arm with the smallest upper bound
/// always survives. Once one arm is left it is played to the end. Deterministic.
pub struct BlockElimination {
    bound: u64,
    ln_t: f64,
    /// Active arms, in index order.
    active: Vec<usize>,
    /// Kept losses per arm: sum and count.
    sums: Vec<f64>,
    kept: Vec<u64>,
    phase: u32,
    /// Position in `active` of the arm whose block is running, and plays of the block so far.
    slot: usize,
    in_block: u64,
    t: u64,
    settled_at: Option<u64>,
}

impl BlockElimination {
    /// A fresh policy for `arms` arms, horizon T and memory bound M.
    pub fn new(arms: usize, horizon: u64, memory_bound: u64) -> Self {
        BlockElimination {
            bound: memory_bound,
            ln_t: (horizon as f64).ln().max(0.0),
            active: (0..arms).collect(),
            sums: vec![0.0; arms],
            kept: vec![0; arms],
            phase: 1,
            slot: 0,
            in_block: 0,
            t: 0,
            settled_at: if arms <= 1 { Some(0) } else { None },
        }
    }

    /// The step after which one arm was left, if it has happened.
    pub fn settled_at(&self) -> Option<u64> {
        self.settled_at
    }

    /// The arms still active.
    pub fn active(&self) -> &[usize] {
        &self.active
    }

    fn block_len(&self) -> u64 {
        self.bound.saturating_add(1u64 << self.phase.min(62))
    }

    fn eliminate(&mut self) {
        let n = self.kept[self.active[0]].max(1) as f64;
        let r = (self.ln_t / (2.0 * n)).sqrt();
        let mean = |a: usize| self.sums[a] / self.kept[a].max(1) as f64;
        let min_ucb = self.active.iter().map(|&a| mean(a) + r).fold(f64::INFINITY, f64::min);
        let keep: Vec<usize> = self.active.iter().copied().filter(|&a| mean(a) - r <= min_ucb).collect();
        self.active = keep;
        if self.active.len() == 1 {
            self.settled_at = Some(self.t);
        }
    }
}

impl Policy for BlockElimination {
    #[inline]
    fn select(&mut self, _rng: &mut Stream) -> usize {
        self.active[self.slot]
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        if self.active.len() == 1 {
            return;
        }
        self.in_block += 1;
        if self.in_block > self.bound {
            self.sums[arm] += 1.0 - reward;
            self.kept[arm] += 1;
        }
        if self.in_block < self.block_len() {
            return;
        }
        self.in_block = 0;
        self.slot += 1;
        if self.slot == self.active.len() {
            self.eliminate();
            self.slot = 0;
            self.phase += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Tallying {
        parse_table(&text.parse::<Table>().unwrap()).unwrap()
    }

    const SMALL: &str = r#"
memory = 3
weights = [1.0, 0.5, 0.25]
losses = [
  { shape = "power", at_zero = 0.9, at_full = 0.05, exponent = 1.5 },
  { shape = "table", values = [0.2, 0.6, 0.3] },
  { shape = "constant", mean = 0.35 },
]
"#;

    #[test]
    fn checkpointed_reconstruction_finds_the_same_sequence() {
        // With tiny argmin tables the oracle rebuilds the sequence through several checkpoint
        // levels; it must find exactly the one-table answer.
        let e = env(SMALL);
        for horizon in [1, 3, 4, 40, 333] {
            let whole = Oracle::new(&e, usize::MAX).best_sequence(horizon);
            for leaf in [1, 27, 100] {
                assert_eq!(Oracle::new(&e, leaf).best_sequence(horizon), whole, "T = {horizon}, leaf {leaf}");
            }
            assert_eq!(whole.len(), horizon as usize);
        }
    }

    #[test]
    fn the_fast_dp_step_equals_the_direct_one() {
        // V_t(s) = min_a loss(s, a) + V_{t+1}(next(s, a)) over every window and action, with the
        // loss from the environment's own arithmetic: values and argmins must match exactly.
        let one =
            "memory = 1\nlosses = [{ shape = \"constant\", mean = 0.5 }, { shape = \"table\", values = [0.1, 0.9] }]";
        for text in [SMALL, one] {
            let e = env(text);
            let o = Oracle::new(&e, usize::MAX);
            let (k, m) = (o.k, o.m);
            let mut next: Vec<f64> = (0..o.states).map(|s| ((s * 7919) % 13) as f64 * 0.1).collect();
            next[0] = next[1];
            let (mut out, mut arg) = (vec![0.0; o.states], vec![0u16; o.states]);
            o.back(&next, &mut out, Some(&mut arg));
            for s in 0..o.states {
                let digit = |j: usize| s / k.pow(j as u32) % k;
                let value = |a: usize| e.curves[a].at(e.weighing.share(m, |j| digit(j) == a)) + next[o.next(s, a)];
                let best = (0..k).map(value).fold(f64::INFINITY, f64::min);
                let first = (0..k).find(|&a| value(a) == best).unwrap();
                assert_eq!((out[s].to_bits(), arg[s] as usize), (best.to_bits(), first), "window {s}");
            }
        }
    }

    #[test]
    fn dp_value_matches_the_sequence_it_returns() {
        // V_m(window) + prefix loss, summed backwards, equals the forward loss of the sequence.
        let e = env(SMALL);
        let oracle = Oracle::new(&e, usize::MAX);
        let horizon = 50;
        let mut v = vec![0.0; oracle.states];
        oracle.sweep(&mut v, 3, horizon, None);
        let prefix = oracle.best_prefix(3, Some(&v));
        let prefix_loss = e.expected_loss(&prefix.iter().map(|&a| a as usize).collect::<Vec<_>>());
        let value = prefix_loss + v[oracle.window_of(&prefix)];
        assert!((value - e.benchmark(horizon).total).abs() < 1e-9, "{value} vs {}", e.benchmark(horizon).total);
    }

    #[test]
    fn block_elimination_follows_its_schedule() {
        // K = 2, M = 3, T = 40 (ln T = 3.689); arm 0 never loses, arm 1 always does. Phase i
        // plays each arm 3 + 2^i times. After phase 1 (n = 2) r = 0.96 and after phase 2
        // (n = 6) r = 0.55: arm 1's lower bound 1 − r stays below arm 0's upper bound r. After
        // phase 3 (n = 14, r = 0.36) arm 1 goes, at step 2·(5 + 7 + 11) = 46.
        let mut p = BlockElimination::new(2, 40, 3);
        let mut rng = rng::stream(0, Role::Policy, &["t"], 0);
        let mut plays = Vec::new();
        for _ in 0..60 {
            let a = p.select(&mut rng);
            plays.push(a);
            p.update(a, if a == 0 { 1.0 } else { 0.0 }, &mut rng);
        }
        let blocks: Vec<usize> = [(0, 5), (1, 5), (0, 7), (1, 7), (0, 11), (1, 11), (0, 14)]
            .iter()
            .flat_map(|&(a, n)| std::iter::repeat_n(a, n))
            .collect();
        assert_eq!(plays, blocks);
        assert_eq!((p.active(), p.settled_at()), (&[0][..], Some(46)));
    }

    #[test]
    fn reo_is_detected_only_when_it_holds() {
        let e = env(SMALL);
        assert_eq!(e.reo_arm(), Some(0));
        let no = env("memory = 2\nlosses = [{ shape = \"power\", at_zero = 0.1, at_full = 0.5 }, \
                      { shape = \"constant\", mean = 0.3 }]");
        assert_eq!(no.reo_arm(), None);
    }
}
