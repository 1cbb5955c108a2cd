//! Recharging bandits (Immorlica & Kleinberg 2018; Papadigenopoulos, Caramanis & Shakkottai,
//! NeurIPS 2022): an arm's payoff grows with the time it has rested, so the order of plays
//! matters and the best policy is a schedule, not an arm.
//!
//! **Model.** Arm i pays a Bernoulli reward with mean p_i(τ_i), where τ_i = min(rounds since
//! arm i was last played, τ_max): 1 if it was played in the previous round, and every arm starts
//! fully recharged at τ_max. (In the words of the literature: playing i sets τ_i = 0, then
//! every counter advances by one, capped at τ_max, before the next round; so the payoffs are
//! p_i(1..=τ_max).) Each p_i is non-decreasing in [0, 1]. One arm per round. The reward noise is
//! one uniform draw per round from the reward stream, the same whatever is played (common
//! random numbers).
//!
//! **Benchmark.** The exact finite-horizon optimum: backward induction over the τ-states
//! reachable from the start (at most (τ_max+1)^K; [`reachable_states`] counts them
//! exactly), computed once per (environment, horizon) and shared by every seed. The per-step
//! benchmark is the expected reward of the optimal plan along its own (deterministic) path from
//! the start, so the regret at the horizon is V_T(start) minus the policy's expected reward,
//! both exact; since the dynamics are deterministic given the actions, no policy's regret at
//! the horizon is negative on any run. When the table (states × horizon) exceeds
//! [`DP_MAX_ENTRIES`], or the states exceed [`DP_MAX_STATES`], the benchmark is
//! the LP upper bound (T + τ_max − 1)·LP instead (τ_max·LP at the first step, LP after): an
//! upper bound, so regret against it overstates the true regret. [`FamilyEnv::regret_name`]
//! says which applies for which horizons, and the `exact-benchmark` measure is 1 or 0.
//!
//! **OptFrac.** The share of rounds whose action is optimal for the DP in the current state
//! with the rounds left (within a relative 1e-11, so exact ties count). Beyond the DP's largest
//! horizon H, "optimal" means optimal for min(rounds left, H) rounds ahead; with no DP at all,
//! OptFrac is reported as 0.
//!
//! **Policies.** The planners know the payoffs: `recharging-greedy`, `recharging-lp` (LP
//! rounding) and `recharging-optimal` (the DP's action). `recharging-etc` learns them
//! (explore-then-commit). Classic policies play blind to the delays. The policies are described in `policies.rs`.

mod oracle;
mod policies;

pub use oracle::{DP_MAX_ARMS, DP_MAX_ENTRIES, DP_MAX_STATES, LpRelaxation, Payoffs, reachable_states};

use super::{FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome, Tracker};
use crate::env::RewardModel;
use crate::policy::{BanditInfo, ParamDef, ParamKind, ParamValue, Policy, PolicyDef, PolicySpec, PolicyVisitor};
use crate::rng::{self, Role, Stream};
use oracle::{Graph, Plan};
use policies::{Blind, Chooser, ExploreThenCommit, Greedy, Optimal, Planner, Rounding, View};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use toml::{Table, Value};

/// The most arms a recharging environment may have.
pub const MAX_ARMS: usize = 64;
/// The largest τ_max (`max_delay`).
pub const MAX_DELAY: usize = 64;

const REFERENCE: &str = "Immorlica & Kleinberg (2018); Papadigenopoulos, Caramanis, Shakkottai (NeurIPS 2022)";

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        name: "recharging-greedy",
        algorithm: "recharging-greedy",
        contextual: false,
        summary: "planner (knows the payoffs): the arm paying most now, argmax_i p_i(tau_i); ties at random",
        reference: REFERENCE,
        params: &[],
    },
    PolicyDef {
        name: "recharging-lp",
        algorithm: "recharging-lp",
        contextual: false,
        summary: "planner (knows the payoffs): LP rounding; each arm draws a gap d w.p. x_{i,d} and a random offset, \
                  clashes resolved fairly, idle rounds filled by net gain; >= (1 - 1/e) LP per round for concave payoffs",
        reference: "Papadigenopoulos, Caramanis, Shakkottai (NeurIPS 2022); fair contention resolution: Feige, Vondrak (2006)",
        params: &[],
    },
    PolicyDef {
        name: "recharging-optimal",
        algorithm: "recharging-optimal",
        contextual: false,
        summary: "planner (knows the payoffs): the finite-horizon DP's action in the current tau-state (regret 0)",
        reference: "backward induction over the reachable tau-states",
        params: &[],
    },
    PolicyDef {
        name: "recharging-etc",
        algorithm: "recharging-etc",
        contextual: false,
        summary: "learner: explore until every (arm, delay) pair has `samples` rewards, fit non-decreasing \
                  estimates, then plan on them",
        reference: "explore-then-commit on p_i(tau), as in Papadigenopoulos, Caramanis, Shakkottai (NeurIPS 2022)",
        params: &[
            ParamDef {
                name: "samples",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Auto,
                doc: "rewards per (arm, delay) pair before committing; auto = ceil((T/P)^(2/3) (ln T)^(1/3)), \
                      P = arms x max_delay pairs (1 with one arm)",
            },
            ParamDef {
                name: "planner",
                kind: ParamKind::Choice(&["dp", "lp", "greedy"]),
                default: ParamValue::Choice("dp"),
                doc: "plan on the estimates: \"dp\" the finite-horizon optimum (LP rounding where the DP does not \
                      fit), \"lp\" LP rounding, \"greedy\"",
            },
        ],
    },
];

/// The registry entry of this family.
pub const KIND: FamilyKind =
    FamilyKind { kind: "recharging", keys: &["bases", "rates", "max_delay", "payoffs"], parse, policies: POLICIES };

fn parse(fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    let has_curves = fields.has("bases") || fields.has("rates");
    let max_delay = fields.count("max_delay", 1)?;
    if let Some(d) = max_delay
        && d > MAX_DELAY as u64
    {
        return Err(FieldError::new("max_delay", format!("at most {MAX_DELAY}, got {d}")));
    }
    if fields.has("payoffs") {
        if has_curves {
            let key = if fields.has("bases") { "bases" } else { "rates" };
            return Err(FieldError::new(key, "give either `payoffs` or `bases` and `rates`, not both"));
        }
        let rows = fields.require("payoffs", fields.rows("payoffs")?, "")?;
        let env = Recharging::from_table(rows)?;
        if let Some(d) = max_delay
            && d as usize != env.payoffs.max_delay()
        {
            return Err(FieldError::new(
                "max_delay",
                format!(
                    "is {d} but each row of `payoffs` lists {} delays; drop max_delay or make them agree",
                    env.payoffs.max_delay()
                ),
            ));
        }
        return Ok(Arc::new(env));
    }
    if !has_curves {
        return Err(FieldError::new(
            "payoffs",
            "missing; give `payoffs = [[p(1), ..., p(max_delay)], ...]` (one row per arm), or `bases`, `rates` and \
             `max_delay` for p_i(tau) = bases[i] (1 - exp(-tau / rates[i]))",
        ));
    }
    let bases = fields.require("bases", fields.numbers("bases")?, "a list of b_i in [0, 1], one per arm")?;
    let rates = fields.require("rates", fields.numbers("rates")?, "a list of r_i > 0, one per arm")?;
    let max_delay = fields.require("max_delay", max_delay, "the delay tau_max at which arms are fully recharged")?;
    Ok(Arc::new(Recharging::from_curves(bases, rates, max_delay as usize)?))
}

/// How the spec described the payoffs (written back as given).
#[derive(Clone, Debug, PartialEq)]
enum Form {
    Curves { bases: Vec<f64>, rates: Vec<f64> },
    Table,
}

/// A recharging environment: its payoffs, its LP relaxation, and the cached exact oracles.
pub struct Recharging {
    form: Form,
    payoffs: Payoffs,
    lp: LpRelaxation,
    /// The reachable-state graph and the true rewards on it (None when too large).
    graph: OnceLock<Option<(Arc<Graph>, Vec<f64>)>>,
    /// DP tables by horizon, each computed once.
    plans: Mutex<HashMap<u64, Arc<OnceLock<Arc<Plan>>>>>,
}

impl fmt::Debug for Recharging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recharging").field("form", &self.form).field("payoffs", &self.payoffs).finish_non_exhaustive()
    }
}

impl Recharging {
    /// The test family p_i(τ) = b_i(1 − e^{−τ/r_i}), τ = 1..=max_delay.
    pub fn from_curves(bases: Vec<f64>, rates: Vec<f64>, max_delay: usize) -> Result<Self, FieldError> {
        check_arms("bases", bases.len())?;
        if rates.len() != bases.len() {
            return Err(FieldError::new(
                "rates",
                format!("has {} entries but bases has {}; give one per arm", rates.len(), bases.len()),
            ));
        }
        if !(1..=MAX_DELAY).contains(&max_delay) {
            return Err(FieldError::new("max_delay", format!("must be in 1..={MAX_DELAY}, got {max_delay}")));
        }
        for (i, &b) in bases.iter().enumerate() {
            if !(0.0..=1.0).contains(&b) {
                return Err(FieldError::new(format!("bases[{i}]"), format!("must be in [0, 1], got {b}")));
            }
        }
        for (i, &r) in rates.iter().enumerate() {
            if r <= 0.0 {
                return Err(FieldError::new(
                    format!("rates[{i}]"),
                    format!("must be > 0 (rounds to recharge), got {r}"),
                ));
            }
        }
        let rows: Vec<Vec<f64>> = bases
            .iter()
            .zip(&rates)
            .map(|(b, r)| (1..=max_delay).map(|d| b * (1.0 - (-(d as f64) / r).exp())).collect())
            .collect();
        Self::build(Form::Curves { bases, rates }, Payoffs::from_rows(&rows))
    }

    /// An explicit table: row i lists p_i(1), …, p_i(τ_max).
    pub fn from_table(rows: Vec<Vec<f64>>) -> Result<Self, FieldError> {
        check_arms("payoffs", rows.len())?;
        let len = rows[0].len();
        if !(1..=MAX_DELAY).contains(&len) {
            return Err(FieldError::new(
                "payoffs[0]",
                format!("must list p(1), ..., p(max_delay) with 1 to {MAX_DELAY} entries, got {len}"),
            ));
        }
        for (i, row) in rows.iter().enumerate() {
            if row.len() != len {
                return Err(FieldError::new(
                    format!("payoffs[{i}]"),
                    format!(
                        "has {} entries but payoffs[0] has {len}; every arm lists p(1), ..., p(max_delay)",
                        row.len()
                    ),
                ));
            }
            for (j, &p) in row.iter().enumerate() {
                if !(0.0..=1.0).contains(&p) {
                    return Err(FieldError::new(format!("payoffs[{i}][{j}]"), format!("must be in [0, 1], got {p}")));
                }
                if j > 0 && p < row[j - 1] {
                    return Err(FieldError::new(
                        format!("payoffs[{i}][{j}]"),
                        format!(
                            "is {p}, below payoffs[{i}][{}] = {}; payoffs never fall as an arm rests",
                            j - 1,
                            row[j - 1]
                        ),
                    ));
                }
            }
        }
        Self::build(Form::Table, Payoffs::from_rows(&rows))
    }

    fn build(form: Form, payoffs: Payoffs) -> Result<Self, FieldError> {
        let lp = LpRelaxation::solve(&payoffs).map_err(|e| {
            FieldError::new("", format!("the LP relaxation of these payoffs could not be solved ({e})"))
        })?;
        Ok(Recharging { form, payoffs, lp, graph: OnceLock::new(), plans: Mutex::new(HashMap::new()) })
    }

    pub fn payoffs(&self) -> &Payoffs {
        &self.payoffs
    }

    /// The LP relaxation of the true payoffs.
    pub fn lp(&self) -> &LpRelaxation {
        &self.lp
    }

    fn graph(&self) -> Option<&(Arc<Graph>, Vec<f64>)> {
        self.graph
            .get_or_init(|| {
                Graph::build(self.payoffs.arms(), self.payoffs.max_delay()).map(|g| {
                    let rewards = g.rewards(&self.payoffs);
                    (Arc::new(g), rewards)
                })
            })
            .as_ref()
    }

    /// The number of reachable τ-states, when the DP can enumerate them.
    pub fn dp_states(&self) -> Option<usize> {
        self.graph().map(|(g, _)| g.states())
    }

    /// The largest horizon with an exact DP benchmark (None when there is no DP at all).
    pub fn dp_max_horizon(&self) -> Option<u64> {
        self.graph().map(|(g, _)| g.max_horizon())
    }

    /// The DP table for `horizon` (computed once; `horizon` within the cap).
    fn plan(&self, horizon: u64) -> Option<Arc<Plan>> {
        let (graph, rewards) = self.graph()?;
        let cell = self.plans.lock().unwrap_or_else(|e| e.into_inner()).entry(horizon).or_default().clone();
        Some(cell.get_or_init(|| Arc::new(Plan::solve(graph, rewards, horizon))).clone())
    }

    /// The best expected total reward over `horizon` rounds from the start state, when the DP
    /// fits ([`Recharging::dp_max_horizon`]).
    pub fn optimal_value(&self, horizon: u64) -> Option<f64> {
        if horizon > self.dp_max_horizon()? {
            return None;
        }
        self.plan(horizon).map(|p| p.value)
    }

    /// Arms ranked best first: by the fully recharged payoff, then the payoff at delay 1.
    fn rank(&self) -> Vec<usize> {
        let p = &self.payoffs;
        let mut order: Vec<usize> = (0..p.arms()).collect();
        order.sort_by(|&a, &b| {
            p.get(b, p.max_delay())
                .total_cmp(&p.get(a, p.max_delay()))
                .then(p.get(b, 1).total_cmp(&p.get(a, 1)))
                .then(a.cmp(&b))
        });
        order
    }

    /// One run of `chooser`: the round loop, the exact accounting and the benchmark.
    fn play<C: Chooser>(&self, chooser: &mut C, run: &FamilyRun, policy_rng: &mut Stream) -> Outcome {
        let (k, horizon) = (self.payoffs.arms(), run.horizon);
        let dmax = self.payoffs.max_delay() as u8;
        let graph = self.graph();
        // The DP used for OptFrac and (when it covers the horizon) the benchmark.
        let plan = graph.and_then(|(g, _)| self.plan(horizon.min(g.max_horizon())));
        let exact = plan.as_ref().is_some_and(|p| p.horizon == horizon);
        let mut reward_rng = run.stream(Role::Reward);
        let mut tracker = Tracker::new(k, run.checkpoints.len());
        let mut tau = vec![dmax; k];
        // The policy's state and the optimal plan's own state in the graph.
        let (mut state, mut bench_state) = (0u32, 0u32);
        for t in 0..horizon {
            let steps_left = horizon - t;
            let arm = chooser.choose(&View { tau: &tau, state, steps_left }, policy_rng);
            let delay = tau[arm] as usize;
            let mean = self.payoffs.get(arm, delay);
            let reward = if rng::uniform(&mut reward_rng) < mean { 1.0 } else { 0.0 };
            let (bench, optimal) = match (&plan, graph) {
                (Some(plan), Some((g, rewards))) => {
                    let optimal = plan.is_optimal(steps_left.min(plan.horizon), state, arm);
                    let bench = if exact {
                        let b = plan.action(steps_left, bench_state);
                        let r = rewards[bench_state as usize * k + b];
                        bench_state = g.next(bench_state, b);
                        r
                    } else {
                        self.lp_step(t)
                    };
                    state = g.next(state, arm);
                    (bench, optimal)
                }
                _ => (self.lp_step(t), false),
            };
            tracker.step(arm, mean, reward, bench, optimal, run.checkpoints);
            chooser.observe(arm, delay, reward, policy_rng);
            for x in &mut tau {
                *x = (*x + 1).min(dmax);
            }
            tau[arm] = 1.min(dmax);
        }
        let benchmark = tracker.benchmark;
        let collected = tracker.collected;
        let ratio = |b: f64| if b > 0.0 { collected / b } else { 1.0 };
        let mut measures = vec![
            Measure { name: "exact-benchmark", value: f64::from(u8::from(exact)) },
            Measure { name: "ratio-to-benchmark", value: ratio(benchmark) },
            Measure { name: "ratio-to-lp", value: ratio(horizon as f64 * self.lp.value) },
        ];
        measures.extend(chooser.measures());
        tracker.finish(&self.rank(), run.checkpoints, 0.0, measures)
    }

    /// The LP benchmark of round `t`: rounds 0..t+1 together get (t + τ_max)·LP.
    fn lp_step(&self, t: u64) -> f64 {
        if t == 0 { self.lp.bound(1) } else { self.lp.value }
    }
}

fn check_arms(key: &str, arms: usize) -> Result<(), FieldError> {
    if arms == 0 {
        return Err(FieldError::new(key, "needs at least one arm"));
    }
    if arms > MAX_ARMS {
        return Err(FieldError::new(key, format!("at most {MAX_ARMS} arms, got {arms}")));
    }
    Ok(())
}

/// Drives a classic policy through [`Recharging::play`], monomorphized per policy type.
struct Classic<'a> {
    env: &'a Recharging,
    run: &'a FamilyRun<'a>,
    rng: &'a mut Stream,
}

impl PolicyVisitor for Classic<'_> {
    type Output = Outcome;
    fn visit<P: Policy>(self, policy: &mut P) -> Outcome {
        self.env.play(&mut Blind(policy), self.run, self.rng)
    }
}

impl FamilyEnv for Recharging {
    fn kind(&self) -> &'static str {
        "recharging"
    }

    fn arms(&self) -> usize {
        self.payoffs.arms()
    }

    fn identity(&self) -> String {
        match &self.form {
            Form::Curves { bases, rates } => format!(
                "recharging(bases={},rates={},max_delay={})",
                super::fmt_list(bases),
                super::fmt_list(rates),
                self.payoffs.max_delay()
            ),
            Form::Table => {
                let rows: Vec<String> = self.payoffs.rows().iter().map(|r| super::fmt_list(r)).collect();
                format!("recharging(payoffs=[{}])", rows.join(","))
            }
        }
    }

    fn default_label(&self) -> String {
        format!("recharging-k{}-d{}", self.payoffs.arms(), self.payoffs.max_delay())
    }

    fn reward_name(&self) -> String {
        format!("bernoulli, recharging (p_i(tau), tau <= {})", self.payoffs.max_delay())
    }

    fn regret_name(&self) -> String {
        let d = self.payoffs.max_delay();
        match self.graph() {
            Some((g, _)) => format!(
                "regret vs the exact optimum (finite-horizon DP over {} tau-states) for horizons up to {}; beyond, vs \
                 the LP upper bound (T + {} - 1) x {:.6}",
                g.states(),
                g.max_horizon(),
                d,
                self.lp.value
            ),
            None => format!(
                "regret vs the LP upper bound (T + {d} - 1) x {:.6} (no exact DP: {} tau-states or {} arms exceed the caps)",
                self.lp.value,
                reachable_states(self.payoffs.arms(), d),
                self.payoffs.arms()
            ),
        }
    }

    fn write_toml(&self, t: &mut Table) {
        match &self.form {
            Form::Curves { bases, rates } => {
                t.insert("bases".into(), super::floats(bases));
                t.insert("rates".into(), super::floats(rates));
                t.insert("max_delay".into(), super::int(self.payoffs.max_delay() as u64));
            }
            Form::Table => {
                t.insert(
                    "payoffs".into(),
                    Value::Array(self.payoffs.rows().iter().map(|r| super::floats(r)).collect()),
                );
            }
        }
    }

    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        super::accept_own_and_classic("recharging", policy)?;
        if policy.name == "recharging-optimal" && self.graph().is_none() {
            return Err(format!(
                "recharging-optimal needs the exact DP, and this environment has {} tau-states and {} arms (caps: \
                 {DP_MAX_STATES} states, {DP_MAX_ARMS} arms); use recharging-lp, or fewer arms or a smaller max_delay",
                reachable_states(self.payoffs.arms(), self.payoffs.max_delay()),
                self.payoffs.arms()
            ));
        }
        Ok(())
    }

    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        let mut rng = run.stream(Role::Policy);
        let (k, dmax) = (self.payoffs.arms(), self.payoffs.max_delay());
        match policy.def.algorithm {
            "recharging-greedy" => self.play(&mut Greedy { payoffs: self.payoffs.clone() }, run, &mut rng),
            "recharging-lp" => {
                let mut rounding = Rounding::new(self.payoffs.clone(), &self.lp, &mut rng);
                self.play(&mut rounding, run, &mut rng)
            }
            "recharging-optimal" => match self.graph() {
                Some((g, _)) => {
                    let plan = self.plan(run.horizon.min(g.max_horizon())).expect("the graph exists");
                    self.play(&mut Optimal { plan }, run, &mut rng)
                }
                None => unreachable!("accepts() refuses recharging-optimal without a DP"),
            },
            "recharging-etc" => {
                let samples = policy
                    .count_or_auto("samples")
                    .unwrap_or_else(|| ExploreThenCommit::auto_samples(k, dmax, run.horizon));
                let planner = match policy.choice("planner") {
                    "lp" => Planner::Lp,
                    "greedy" => Planner::Greedy,
                    _ => Planner::Dp,
                };
                let graph = self.graph().map(|(g, _)| g.clone());
                let mut etc = ExploreThenCommit::new(k, dmax, samples, planner, graph);
                self.play(&mut etc, run, &mut rng)
            }
            _ => {
                let info = BanditInfo { arms: k, horizon: run.horizon, reward_model: &RewardModel::Bernoulli };
                let mut classic = policy.build(&info);
                classic.visit(Classic { env: self, run, rng: &mut rng })
            }
        }
    }
}
