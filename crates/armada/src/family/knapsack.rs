//! Bandits with knapsacks (BwK): every pull earns a reward and spends resources, and the run
//! ends when a budget would be overdrawn (Badanidiyuru, Kleinberg, Slivkins 2013/2018; Slivkins
//! 2019, ch. 10).
//!
//! # The model
//!
//! K arms and d resources with budgets B_1 … B_d. Pulling arm a pays a Bernoulli reward with
//! mean r_a and consumes c_{a,i} of resource i: exactly c_{a,i} under `consumption =
//! "deterministic"`, or a Bernoulli draw with mean c_{a,i} under `"bernoulli"`; reward and
//! consumption are independent. With `null_arm = true` an extra arm (index K, last) pays 0 and
//! consumes nothing.
//!
//! The stopping rule (the book's: rewards count only in rounds strictly before the budget is
//! violated): at step t the policy chooses an arm and the step's reward and consumption are
//! drawn. If the consumption would take any resource past its budget (used_i + c_{t,i} > B_i,
//! up to a relative round-off slack of 10⁻⁹ of B_i), the run stops: that step earns nothing,
//! consumes nothing and is not counted, and the policy is not told its outcome. Otherwise the
//! reward is earned, the consumption charged and the policy updated. The run also stops at the
//! horizon T. So the recorded consumption never exceeds a budget, and `stopped-at` (the number
//! of steps that counted) is at most T.
//!
//! # The benchmark: OPT_LP
//!
//! OPT_LP = T · max Σ_a x_a r_a subject to Σ_a x_a c_{a,i} ≤ B_i / T for every resource,
//! Σ_a x_a ≤ 1 and x ≥ 0, over the K real arms (the slack 1 − Σ x is the null arm, or stopping
//! early). It bounds the expected reward of every policy: with deterministic consumption the
//! counted pulls N_a satisfy Σ_a N_a c_{a,i} ≤ B_i on every run, so x = N/T is feasible and a
//! run's expected reward Σ_a N_a r_a never exceeds OPT_LP; with Bernoulli consumption the bound
//! holds in expectation up to the one step that stops the run. It is solved with `microlp` once
//! per (instance, horizon) and cached ([`Knapsack::lp_optimum`]); should `microlp` report a
//! numerical failure, the module's own dense simplex ([`DenseSimplex`]) answers instead.
//!
//! Each counted step adds OPT_LP / T to the benchmark and r_a to the policy's expected reward
//! (exact given the arm: the reward is independent of the consumption that decided whether the
//! step counted). When the run stops at τ < T, the benchmark of the T − τ steps not played is
//! added as well, so the final regret is OPT_LP − Σ_{counted steps} r_{a_t}. Regret between
//! checkpoints need not grow: a policy that overspends early can be ahead of the benchmark's
//! even pace until its budget runs out.
//!
//! OptFrac is the share of counted steps on arms in the support of the LP optimum the solver
//! returns (x_a > 10⁻⁹; the null arm is in the support when the slack 1 − Σ x is). Arms are
//! ranked by their LP weight, then by mean reward, then by index.
//!
//! # Policies
//!
//! * `lagrange-bwk` ([`LagrangeBwk`]): LagrangeBwK (Immorlica, Sankararaman, Schapire, Slivkins
//!   2019; Slivkins 2019, sec. 10.4). A repeated game on the Lagrangian
//!   L(a, λ) = r_a + Σ_i λ_i (1 − (T/B_i) c_{a,i}), λ in the simplex over the d resources and a
//!   dummy resource whose term is 0 (the book's "time" resource). The primal player is EXP3
//!   over arms on the realised L normalised to [0, 1]; the dual player is Hedge over the d + 1
//!   resources, with full feedback (the pulled arm's consumption vector), minimising L.
//!   Learning rates: EXP3 η₁ = √(2 ln K / (K T)) (Lattimore & Szepesvári 2020, Thm 11.2),
//!   Hedge η₂ = √(8 ln(d + 1) / T) (Cesa-Bianchi & Lugosi 2006, Thm 2.2): the standard tunings
//!   for losses in [0, 1] over T rounds, which is what the book's reduction asks of its two
//!   regret minimisers.
//! * `ucb-bwk` ([`UcbBwk`]): the optimistic LP policy (UCB-BwK; Agrawal & Devanur 2014;
//!   Slivkins 2019, sec. 10.3). After one pull of each real arm, every step solves the LP with
//!   upper confidence bounds on rewards and lower confidence bounds on consumption, against the
//!   remaining budget per remaining step, and samples an arm from its solution (the slack goes
//!   to the null arm, or is spread over the real arms in proportion when there is none). The
//!   confidence radius is rad(ν, n) = √(C ν / n) + C / n (Badanidiyuru et al. 2018, sec. 4),
//!   ν the empirical mean and n the pulls. The LP (K variables, d + 1 rows) is solved from
//!   scratch every step by [`DenseSimplex`], without allocating: a handful of pivots on a
//!   (d + 2) × (K + d + 2) tableau.
//! * Classic policies (`ucb1`, `thompson`, …) are accepted and see the reward only: they ignore
//!   consumption, the reward-greedy baseline of the book.

use super::{
    FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome, Tracker, accept_own_and_classic, floats,
    fmt_list,
};
use crate::env::RewardModel;
use crate::policy::{
    BanditInfo, ParamDef, ParamKind, ParamValue, Policy, PolicyDef, PolicySpec, PolicyVisitor, add_loss_estimate,
};
use crate::rng::{self, Role, Stream};
use std::sync::{Arc, Mutex};
use toml::{Table, Value};

/// Most real arms an instance may have.
pub const MAX_ARMS: usize = 64;
/// Most resources an instance may have.
pub const MAX_RESOURCES: usize = 16;
/// Smallest positive consumption mean: smaller ones make the LP badly scaled (write 0 instead).
pub const MIN_COST: f64 = 1e-4;
/// Largest budget.
pub const MAX_BUDGET: f64 = 1e12;
/// A step fits when used + consumption ≤ B (1 + BUDGET_SLACK): the slack absorbs the round-off
/// of summing fractional costs (ten pulls of cost 0.1 fit a budget of 1).
const BUDGET_SLACK: f64 = 1e-9;
/// LP weights above this are in the optimum's support.
const SUPPORT_TOL: f64 = 1e-9;

const SPEC_WORD: &str = "knapsack";

const POSITIVE_OR_AUTO: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: true };

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        name: "lagrange-bwk",
        algorithm: "lagrange-bwk",
        contextual: false,
        summary: "LagrangeBwK: EXP3 over arms on the Lagrangian r + sum_i lambda_i (1 - T c_i / B_i), Hedge over \
                  the resources and a dummy choosing lambda",
        reference: "Immorlica, Sankararaman, Schapire, Slivkins (2019); Slivkins (2019), sec. 10.4",
        params: &[
            ParamDef {
                name: "eta_primal",
                kind: POSITIVE_OR_AUTO,
                default: ParamValue::Auto,
                doc: "EXP3 learning rate on the normalised Lagrangian; auto = sqrt(2 ln K / (K T))",
            },
            ParamDef {
                name: "eta_dual",
                kind: POSITIVE_OR_AUTO,
                default: ParamValue::Auto,
                doc: "Hedge learning rate over the d resources and the dummy; auto = sqrt(8 ln(d + 1) / T)",
            },
        ],
    },
    PolicyDef {
        name: "ucb-bwk",
        algorithm: "ucb-bwk",
        contextual: false,
        summary: "optimistic LP: each step, the LP with UCB rewards and LCB consumption on the remaining budget per \
                  remaining step; play an arm drawn from its solution",
        reference: "Agrawal, Devanur (2014); Badanidiyuru, Kleinberg, Slivkins (2018), sec. 4; Slivkins (2019), \
                    sec. 10.3",
        params: &[ParamDef {
            name: "c_rad",
            kind: POSITIVE_OR_AUTO,
            default: ParamValue::Auto,
            doc: "C in the confidence radius sqrt(C v / n) + C / n; auto = ln T",
        }],
    },
];

/// The registry entry of this family.
pub const KIND: FamilyKind = FamilyKind {
    kind: SPEC_WORD,
    keys: &["rewards", "costs", "budgets", "consumption", "null_arm"],
    parse,
    policies: POLICIES,
};

fn parse(fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    let example = "e.g. rewards = [0.9, 0.5], costs = [[1.0], [0.1]], budgets = [250]";
    let rewards =
        fields.require("rewards", fields.numbers("rewards")?, &format!("list each arm's mean reward; {example}"))?;
    let budgets =
        fields.require("budgets", fields.numbers("budgets")?, &format!("list one budget per resource; {example}"))?;
    let costs = fields.require(
        "costs",
        fields.rows("costs")?,
        &format!("give one row per arm with one consumption mean per resource; {example}"),
    )?;
    let consumption = match fields.word("consumption", &["deterministic", "bernoulli"])? {
        Some("bernoulli") => Consumption::Bernoulli,
        _ => Consumption::Deterministic,
    };
    let null_arm = fields.boolean("null_arm")?.unwrap_or(false);
    Ok(Arc::new(Knapsack::new(rewards, costs, budgets, consumption, null_arm)?))
}

/// How a pull consumes resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumption {
    /// Arm a consumes exactly c_{a,i} of resource i.
    Deterministic,
    /// Arm a consumes 1 of resource i with probability c_{a,i}, else 0 (independently across
    /// resources and of the reward).
    Bernoulli,
}

impl Consumption {
    fn name(self) -> &'static str {
        match self {
            Consumption::Deterministic => "deterministic",
            Consumption::Bernoulli => "bernoulli",
        }
    }
}

/// A bandits-with-knapsacks instance, validated.
#[derive(Debug)]
pub struct Knapsack {
    /// Mean rewards of the real arms.
    rewards: Vec<f64>,
    /// Consumption means, one row per real arm.
    costs: Vec<Vec<f64>>,
    budgets: Vec<f64>,
    consumption: Consumption,
    null_arm: bool,
    /// Mean reward of every arm the policies see (the null arm last, if declared).
    arm_rewards: Vec<f64>,
    /// Consumption means of every arm the policies see, row-major (arms × resources).
    arm_costs: Vec<f64>,
    /// OPT_LP per horizon, solved on first use.
    lp_cache: Mutex<Vec<(u64, Arc<LpOptimum>)>>,
}

/// The LP optimum of an instance at one horizon.
#[derive(Clone, Debug, PartialEq)]
pub struct LpOptimum {
    /// OPT_LP = T · max Σ_a x_a r_a.
    pub value: f64,
    /// x_a for every arm the policies see; the null arm's weight is the slack 1 − Σ x.
    pub weights: Vec<f64>,
    /// Whether each arm is in the optimum's support (weight > 10⁻⁹).
    pub support: Vec<bool>,
    /// Arms best first: by weight, then mean reward, then index.
    pub rank: Vec<usize>,
}

impl Knapsack {
    /// A validated instance: `rewards` (one mean in [0, 1] per arm, at least one positive),
    /// `costs` (one row per arm, one mean in [0, 1] per resource, each 0 or at least
    /// [`MIN_COST`]), `budgets` (one per resource, in [[`MIN_COST`], [`MAX_BUDGET`]]). Errors name the key.
    pub fn new(
        rewards: Vec<f64>,
        costs: Vec<Vec<f64>>,
        budgets: Vec<f64>,
        consumption: Consumption,
        null_arm: bool,
    ) -> Result<Self, FieldError> {
        let k = rewards.len();
        if !(1..=MAX_ARMS).contains(&k) {
            return Err(FieldError::new("rewards", format!("must list 1 to {MAX_ARMS} arms, got {k}")));
        }
        for (a, &r) in rewards.iter().enumerate() {
            if !(0.0..=1.0).contains(&r) {
                return Err(FieldError::new(format!("rewards[{a}]"), format!("must be a mean in [0, 1], got {r}")));
            }
        }
        if rewards.iter().all(|&r| r == 0.0) {
            return Err(FieldError::new(
                "rewards",
                "every mean is 0, so every policy earns 0 and OPT_LP = 0; give at least one arm a positive mean",
            ));
        }
        let d = budgets.len();
        if !(1..=MAX_RESOURCES).contains(&d) {
            return Err(FieldError::new(
                "budgets",
                format!("must list 1 to {MAX_RESOURCES} budgets (one per resource), got {d}"),
            ));
        }
        for (i, &b) in budgets.iter().enumerate() {
            // Below MIN_COST no pull could fit, and T/B would overflow LagrangeBwK's payoff.
            if !(MIN_COST..=MAX_BUDGET).contains(&b) {
                return Err(FieldError::new(
                    format!("budgets[{i}]"),
                    format!("must be in [{MIN_COST}, {MAX_BUDGET:e}], got {b}"),
                ));
            }
        }
        if costs.len() != k {
            return Err(FieldError::new(
                "costs",
                format!("must have one row per arm ({k}, as in rewards), got {} rows", costs.len()),
            ));
        }
        for (a, row) in costs.iter().enumerate() {
            if row.len() != d {
                return Err(FieldError::new(
                    format!("costs[{a}]"),
                    format!("must have one entry per resource ({d}, as in budgets), got {}", row.len()),
                ));
            }
            for (i, &c) in row.iter().enumerate() {
                if !(0.0..=1.0).contains(&c) {
                    return Err(FieldError::new(
                        format!("costs[{a}][{i}]"),
                        format!("must be a consumption mean in [0, 1], got {c}"),
                    ));
                }
                if c > 0.0 && c < MIN_COST {
                    return Err(FieldError::new(
                        format!("costs[{a}][{i}]"),
                        format!(
                            "{c} is below {MIN_COST}, which makes the LP badly scaled; write 0 or scale the budget"
                        ),
                    ));
                }
            }
        }
        let mut arm_rewards = rewards.clone();
        let mut arm_costs: Vec<f64> = costs.iter().flatten().copied().collect();
        if null_arm {
            arm_rewards.push(0.0);
            arm_costs.extend(std::iter::repeat_n(0.0, d));
        }
        Ok(Knapsack {
            rewards,
            costs,
            budgets,
            consumption,
            null_arm,
            arm_rewards,
            arm_costs,
            lp_cache: Mutex::new(Vec::new()),
        })
    }

    /// The number of resources.
    pub fn resources(&self) -> usize {
        self.budgets.len()
    }

    /// The budgets.
    pub fn budgets(&self) -> &[f64] {
        &self.budgets
    }

    /// The index of the null arm, if declared.
    pub fn null_arm(&self) -> Option<usize> {
        self.null_arm.then_some(self.rewards.len())
    }

    /// The LP optimum at `horizon`, solved once and cached.
    pub fn lp_optimum(&self, horizon: u64) -> Arc<LpOptimum> {
        let cached =
            |cache: &Vec<(u64, Arc<LpOptimum>)>| cache.iter().find(|(h, _)| *h == horizon).map(|(_, o)| o.clone());
        if let Some(o) = cached(&self.lp_cache.lock().unwrap_or_else(|e| e.into_inner())) {
            return o;
        }
        // Solved outside the lock: two threads may both solve it, with the same result.
        let optimum = Arc::new(self.solve_lp(horizon));
        let mut cache = self.lp_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = cached(&cache) {
            return o;
        }
        cache.push((horizon, optimum.clone()));
        optimum
    }

    /// Solves the benchmark LP at `horizon` (see the module doc).
    fn solve_lp(&self, horizon: u64) -> LpOptimum {
        let (k, d) = (self.rewards.len(), self.resources());
        let t = horizon.max(1) as f64;
        let per_step: Vec<f64> = self.budgets.iter().map(|b| b / t).collect();
        let x = solve_with_microlp(&self.rewards, &self.costs, &per_step).unwrap_or_else(|| {
            let mut lp = DenseSimplex::new(d + 1, k);
            let mut matrix: Vec<f64> = (0..d).flat_map(|i| self.costs.iter().map(move |row| row[i])).collect();
            matrix.extend(std::iter::repeat_n(1.0, k));
            let mut rhs = per_step.clone();
            rhs.push(1.0);
            let mut x = vec![0.0; k];
            lp.solve(&self.rewards, &matrix, &rhs, &mut x);
            x
        });
        let value = t * x.iter().zip(&self.rewards).map(|(x, r)| x * r).sum::<f64>();
        let mut weights = x.clone();
        if self.null_arm {
            weights.push((1.0 - x.iter().sum::<f64>()).max(0.0));
        }
        let support: Vec<bool> = weights.iter().map(|&w| w > SUPPORT_TOL).collect();
        let mut rank: Vec<usize> = (0..weights.len()).collect();
        let r = &self.arm_rewards;
        rank.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(r[b].total_cmp(&r[a])).then(a.cmp(&b)));
        LpOptimum { value, weights, support, rank }
    }

    /// One run of `learner`: draw, stop or charge, account (see the module doc).
    fn play<L: Learner>(&self, learner: &mut L, run: &FamilyRun, lp: &LpOptimum) -> Outcome {
        let n = self.arm_rewards.len();
        let d = self.resources();
        let horizon = run.horizon;
        let bench = lp.value / horizon.max(1) as f64;
        let mut reward_rng = run.stream(Role::Reward);
        let mut policy_rng = run.stream(Role::Policy);
        let mut tracker = Tracker::new(n, run.checkpoints.len());
        let mut used = vec![0.0; d];
        let mut draw = vec![0.0; d];
        let limits: Vec<f64> = self.budgets.iter().map(|b| b * (1.0 + BUDGET_SLACK)).collect();
        let mut played = 0u64;
        while played < horizon {
            let arm = learner.select(&mut policy_rng);
            // Common random numbers: one uniform for the reward and, under Bernoulli
            // consumption, one per resource, whatever the arm.
            let reward = f64::from(rng::uniform(&mut reward_rng) < self.arm_rewards[arm]);
            let costs = &self.arm_costs[arm * d..(arm + 1) * d];
            match self.consumption {
                Consumption::Deterministic => draw.copy_from_slice(costs),
                Consumption::Bernoulli => {
                    for (x, &c) in draw.iter_mut().zip(costs) {
                        *x = f64::from(rng::uniform(&mut reward_rng) < c);
                    }
                }
            }
            if used.iter().zip(&draw).zip(&limits).any(|((u, x), l)| u + x > *l) {
                break;
            }
            for (u, x) in used.iter_mut().zip(&draw) {
                *u += x;
            }
            played += 1;
            tracker.step(arm, self.arm_rewards[arm], reward, bench, lp.support[arm], run.checkpoints);
            learner.update(arm, reward, &draw, &mut policy_rng);
        }
        let budget_used = used.iter().zip(&self.budgets).map(|(u, b)| u / b).fold(0.0, f64::max);
        let measures = vec![
            Measure { name: "stopped-at", value: played as f64 },
            Measure { name: "reward-over-lp", value: tracker.reward / lp.value },
            Measure { name: "budget-used", value: budget_used },
        ];
        tracker.finish(&lp.rank, run.checkpoints, bench, measures)
    }
}

/// max Σ x_a r_a s.t. Σ_a x_a c_{a,i} ≤ per_step_i, Σ x ≤ 1, x ≥ 0 with microlp; None on a
/// solver failure.
fn solve_with_microlp(rewards: &[f64], costs: &[Vec<f64>], per_step: &[f64]) -> Option<Vec<f64>> {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let mut problem = Problem::new(OptimizationDirection::Maximize);
    let vars: Vec<_> = rewards.iter().map(|&r| problem.add_var(r, (0.0, f64::INFINITY))).collect();
    for (i, &b) in per_step.iter().enumerate() {
        let terms: Vec<_> =
            vars.iter().zip(costs).filter(|(_, row)| row[i] > 0.0).map(|(&v, row)| (v, row[i])).collect();
        if !terms.is_empty() {
            problem.add_constraint(terms, ComparisonOp::Le, b);
        }
    }
    problem.add_constraint(vars.iter().map(|&v| (v, 1.0)).collect::<Vec<_>>(), ComparisonOp::Le, 1.0);
    let solution = problem.solve().ok()?.into_solution().ok()?;
    Some(vars.iter().map(|&v| solution.var_value(v).max(0.0)).collect())
}

impl FamilyEnv for Knapsack {
    fn kind(&self) -> &'static str {
        SPEC_WORD
    }

    fn arms(&self) -> usize {
        self.arm_rewards.len()
    }

    fn identity(&self) -> String {
        let costs: Vec<String> = self.costs.iter().map(|row| fmt_list(row)).collect();
        format!(
            "rewards={};costs=[{}];budgets={};consumption={};null_arm={}",
            fmt_list(&self.rewards),
            costs.join(","),
            fmt_list(&self.budgets),
            self.consumption.name(),
            self.null_arm
        )
    }

    fn default_label(&self) -> String {
        let null = if self.null_arm { "-null" } else { "" };
        format!("knapsack-k{}-d{}{null}", self.rewards.len(), self.resources())
    }

    fn reward_name(&self) -> String {
        let d = self.resources();
        let resources = if d == 1 { "1 resource".to_string() } else { format!("{d} resources") };
        match self.consumption {
            Consumption::Deterministic => format!("bernoulli rewards, deterministic consumption of {resources}"),
            Consumption::Bernoulli => format!("bernoulli rewards, bernoulli consumption of {resources}"),
        }
    }

    fn regret_name(&self) -> String {
        "regret vs the LP optimum (OPT_LP)".into()
    }

    fn write_toml(&self, t: &mut Table) {
        t.insert("rewards".into(), floats(&self.rewards));
        t.insert("costs".into(), Value::Array(self.costs.iter().map(|row| floats(row)).collect()));
        t.insert("budgets".into(), floats(&self.budgets));
        t.insert("consumption".into(), Value::String(self.consumption.name().into()));
        t.insert("null_arm".into(), Value::Boolean(self.null_arm));
    }

    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        accept_own_and_classic(SPEC_WORD, policy)
    }

    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        let lp = self.lp_optimum(run.horizon);
        match policy.def.algorithm {
            "lagrange-bwk" => {
                let mut p = LagrangeBwk::new(
                    self.arms(),
                    &self.budgets,
                    run.horizon,
                    policy.float_or_auto("eta_primal"),
                    policy.float_or_auto("eta_dual"),
                );
                self.play(&mut p, run, &lp)
            }
            "ucb-bwk" => {
                let mut p = UcbBwk::new(self, run.horizon, policy.float_or_auto("c_rad"));
                self.play(&mut p, run, &lp)
            }
            _ => {
                let model = RewardModel::Bernoulli;
                let info = BanditInfo { arms: self.arms(), horizon: run.horizon, reward_model: &model };
                policy.build(&info).visit(ClassicRun { env: self, run, lp: &lp })
            }
        }
    }
}

/// What a policy does in a knapsack run: choose, then learn from the reward and the
/// consumption vector of a counted step.
trait Learner {
    fn select(&mut self, rng: &mut Stream) -> usize;
    fn update(&mut self, arm: usize, reward: f64, consumption: &[f64], rng: &mut Stream);
}

/// A classic policy, blind to consumption.
struct Classic<'a, P>(&'a mut P);

impl<P: Policy> Learner for Classic<'_, P> {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        self.0.select(rng)
    }
    #[inline]
    fn update(&mut self, arm: usize, reward: f64, _consumption: &[f64], rng: &mut Stream) {
        self.0.update(arm, reward, rng);
    }
}

/// Runs a classic policy through [`Knapsack::play`], monomorphized per policy type.
struct ClassicRun<'a> {
    env: &'a Knapsack,
    run: &'a FamilyRun<'a>,
    lp: &'a LpOptimum,
}

impl PolicyVisitor for ClassicRun<'_> {
    type Output = Outcome;
    fn visit<P: Policy>(self, policy: &mut P) -> Outcome {
        self.env.play(&mut Classic(policy), self.run, self.lp)
    }
}

/// p_i ∝ exp(−η (L_i − min L)) into `probs` (the leader's weight is 1, nothing overflows).
fn exponential_weights(cum_loss: &[f64], eta: f64, probs: &mut [f64]) {
    let min = cum_loss.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    for (p, &l) in probs.iter_mut().zip(cum_loss) {
        *p = if l == min { 1.0 } else { (-eta * (l - min)).exp() };
        sum += *p;
    }
    for p in probs.iter_mut() {
        *p /= sum;
    }
}

/// LagrangeBwK with EXP3 as the primal and Hedge as the dual player (see the module doc).
pub struct LagrangeBwk {
    eta_primal: f64,
    eta_dual: f64,
    /// T / B_i per resource.
    scale: Vec<f64>,
    /// The lower end of each resource's Lagrangian term 1 − (T/B_i) c_i over c_i ∈ [0, 1],
    /// and of the dummy's 0: min(0, 1 − max_i T/B_i).
    low: f64,
    /// L̂_a, EXP3's importance-weighted cumulative losses.
    cum_loss: Vec<f64>,
    probs: Vec<f64>,
    /// Hedge's cumulative normalised losses; index 0 is the dummy resource.
    dual_loss: Vec<f64>,
    /// λ: Hedge's distribution over the dummy and the resources.
    lambda: Vec<f64>,
}

impl LagrangeBwk {
    /// `arms` arms, the budgets, the horizon; `None` rates are the defaults of the module doc.
    pub fn new(arms: usize, budgets: &[f64], horizon: u64, eta_primal: Option<f64>, eta_dual: Option<f64>) -> Self {
        let t = horizon.max(1) as f64;
        let (k, d) = (arms as f64, budgets.len() as f64);
        let scale: Vec<f64> = budgets.iter().map(|b| t / b).collect();
        let low = scale.iter().fold(0.0f64, |m, s| m.min(1.0 - s));
        let mut p = LagrangeBwk {
            eta_primal: eta_primal.unwrap_or_else(|| (2.0 * k.ln() / (k * t)).sqrt()),
            eta_dual: eta_dual.unwrap_or_else(|| (8.0 * (d + 1.0).ln() / t).sqrt()),
            scale,
            low,
            cum_loss: vec![0.0; arms],
            probs: vec![0.0; arms],
            dual_loss: vec![0.0; budgets.len() + 1],
            lambda: vec![0.0; budgets.len() + 1],
        };
        exponential_weights(&p.cum_loss, p.eta_primal, &mut p.probs);
        exponential_weights(&p.dual_loss, p.eta_dual, &mut p.lambda);
        p
    }

    /// The distribution the next arm is drawn from.
    pub fn probabilities(&self) -> &[f64] {
        &self.probs
    }

    /// λ: the weight of the dummy resource, then of each resource.
    pub fn lambda(&self) -> &[f64] {
        &self.lambda
    }
}

impl Learner for LagrangeBwk {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        rng::categorical(rng, &self.probs)
    }

    #[inline]
    fn update(&mut self, arm: usize, reward: f64, consumption: &[f64], _rng: &mut Stream) {
        // The Lagrangian payoff under the current λ: r + Σ_i λ_i (1 − (T/B_i) c_i), in
        // [low, 2]; EXP3's loss is 1 − its normalised value.
        let terms = self.scale.iter().zip(consumption).map(|(s, c)| 1.0 - s * c);
        let payoff = reward + terms.clone().zip(&self.lambda[1..]).map(|(x, l)| l * x).sum::<f64>();
        let loss = ((2.0 - payoff) / (2.0 - self.low)).clamp(0.0, 1.0);
        add_loss_estimate(&mut self.cum_loss[arm], loss, self.probs[arm]);
        // The dual minimises the Lagrangian: each resource's loss is its term, the dummy's is
        // 0, all mapped from [low, 1] to [0, 1].
        let width = 1.0 - self.low;
        self.dual_loss[0] += -self.low / width;
        for (acc, x) in self.dual_loss[1..].iter_mut().zip(terms) {
            *acc += (x - self.low) / width;
        }
        exponential_weights(&self.cum_loss, self.eta_primal, &mut self.probs);
        exponential_weights(&self.dual_loss, self.eta_dual, &mut self.lambda);
    }
}

/// The optimistic LP policy UCB-BwK (see the module doc).
pub struct UcbBwk {
    /// Real arms (the LP's variables); the null arm, if any, is index `real`.
    real: usize,
    null: Option<usize>,
    c_rad: f64,
    horizon: u64,
    /// Counted steps so far.
    t: u64,
    remaining: Vec<f64>,
    counts: Vec<u64>,
    mean_reward: Vec<f64>,
    /// Mean consumption, arms × resources.
    mean_cost: Vec<f64>,
    lp: DenseSimplex,
    objective: Vec<f64>,
    /// The LP's rows: one per resource, then Σ x ≤ 1; row-major (rows × real arms).
    matrix: Vec<f64>,
    rhs: Vec<f64>,
    x: Vec<f64>,
}

impl UcbBwk {
    fn new(env: &Knapsack, horizon: u64, c_rad: Option<f64>) -> Self {
        let real = env.rewards.len();
        let d = env.resources();
        let mut matrix = vec![0.0; (d + 1) * real];
        matrix[d * real..].fill(1.0);
        UcbBwk {
            real,
            null: env.null_arm(),
            c_rad: c_rad.unwrap_or_else(|| (horizon.max(2) as f64).ln()),
            horizon,
            t: 0,
            remaining: env.budgets.clone(),
            counts: vec![0; real],
            mean_reward: vec![0.0; real],
            mean_cost: vec![0.0; real * d],
            lp: DenseSimplex::new(d + 1, real),
            objective: vec![0.0; real],
            matrix,
            rhs: vec![0.0; d + 1],
            x: vec![0.0; real],
        }
    }

    /// The confidence radius √(C ν / n) + C / n.
    fn radius(&self, mean: f64, n: u64) -> f64 {
        let n = n as f64;
        (self.c_rad * mean / n).sqrt() + self.c_rad / n
    }
}

impl Learner for UcbBwk {
    fn select(&mut self, rng: &mut Stream) -> usize {
        if let Some(a) = self.counts.iter().position(|&n| n == 0) {
            return a;
        }
        let (k, d) = (self.real, self.remaining.len());
        let steps_left = self.horizon.saturating_sub(self.t).max(1) as f64;
        for a in 0..k {
            let n = self.counts[a];
            self.objective[a] = (self.mean_reward[a] + self.radius(self.mean_reward[a], n)).min(1.0);
            for i in 0..d {
                let c = self.mean_cost[a * d + i];
                self.matrix[i * k + a] = (c - self.radius(c, n)).max(0.0);
            }
        }
        for (r, &left) in self.rhs.iter_mut().zip(&self.remaining) {
            *r = left.max(0.0) / steps_left;
        }
        self.rhs[d] = 1.0;
        self.lp.solve(&self.objective, &self.matrix, &self.rhs, &mut self.x);
        let total: f64 = self.x.iter().sum();
        if total <= SUPPORT_TOL {
            // Nothing fits even optimistically: idle if we can, else the most promising arm.
            return self.null.unwrap_or_else(|| rng::argmax_random_ties(rng, &self.objective));
        }
        // One uniform over [0, 1) with a null arm (the slack is its share), over [0, Σ x)
        // without (the solution spread over the real arms in proportion).
        let target = rng::uniform(rng) * if self.null.is_some() { 1.0 } else { total };
        let mut acc = 0.0;
        let mut last = 0;
        for (a, &xa) in self.x.iter().enumerate() {
            if xa > 0.0 {
                acc += xa;
                last = a;
                if target < acc {
                    return a;
                }
            }
        }
        self.null.unwrap_or(last)
    }

    fn update(&mut self, arm: usize, reward: f64, consumption: &[f64], _rng: &mut Stream) {
        self.t += 1;
        for (left, c) in self.remaining.iter_mut().zip(consumption) {
            *left -= c;
        }
        if arm >= self.real {
            return;
        }
        let d = consumption.len();
        self.counts[arm] += 1;
        let n = self.counts[arm] as f64;
        self.mean_reward[arm] += (reward - self.mean_reward[arm]) / n;
        for (m, &c) in self.mean_cost[arm * d..(arm + 1) * d].iter_mut().zip(consumption) {
            *m += (c - *m) / n;
        }
    }
}

/// A dense tableau simplex for max c·x s.t. A x ≤ b, x ≥ 0 with b ≥ 0 (so the origin is a
/// feasible start and no phase one is needed), using Bland's rule (smallest entering index,
/// ties in the ratio test to the smallest basic index), which cannot cycle. All storage is
/// allocated once: a solve allocates nothing.
#[derive(Clone, Debug)]
pub struct DenseSimplex {
    rows: usize,
    cols: usize,
    /// (rows + 1) × (cols + rows + 1): constraint rows, then the objective row; the last
    /// column is the right-hand side.
    tableau: Vec<f64>,
    basis: Vec<usize>,
}

/// Pivot tolerance of [`DenseSimplex`].
const PIVOT_EPS: f64 = 1e-12;

impl DenseSimplex {
    /// A solver for `rows` constraints over `cols` variables.
    pub fn new(rows: usize, cols: usize) -> Self {
        DenseSimplex { rows, cols, tableau: vec![0.0; (rows + 1) * (cols + rows + 1)], basis: vec![0; rows] }
    }

    /// Maximises `objective`·x subject to `matrix` x ≤ `rhs` (matrix row-major, rows × cols;
    /// negative right-hand sides are read as 0) and x ≥ 0; writes x and returns the optimum.
    pub fn solve(&mut self, objective: &[f64], matrix: &[f64], rhs: &[f64], x: &mut [f64]) -> f64 {
        let (m, n) = (self.rows, self.cols);
        let w = n + m + 1;
        let tab = &mut self.tableau;
        tab.fill(0.0);
        for r in 0..m {
            tab[r * w..r * w + n].copy_from_slice(&matrix[r * n..(r + 1) * n]);
            tab[r * w + n + r] = 1.0;
            tab[r * w + w - 1] = rhs[r].max(0.0);
            self.basis[r] = n + r;
        }
        for j in 0..n {
            tab[m * w + j] = -objective[j];
        }
        // Bland's rule terminates; the cap only guards against round-off surprises.
        for _ in 0..50 * (n + m + 1) {
            let Some(enter) = (0..w - 1).find(|&j| tab[m * w + j] < -PIVOT_EPS) else { break };
            let mut leave = None;
            let mut best = f64::INFINITY;
            for r in 0..m {
                let a = tab[r * w + enter];
                if a > PIVOT_EPS {
                    let ratio = tab[r * w + w - 1] / a;
                    let better = match leave {
                        None => true,
                        Some(l) => ratio < best || (ratio == best && self.basis[r] < self.basis[l]),
                    };
                    if better {
                        best = ratio;
                        leave = Some(r);
                    }
                }
            }
            // Unbounded along `enter`: cannot happen when a row bounds every variable.
            let Some(leave) = leave else { break };
            let pivot = tab[leave * w + enter];
            for j in 0..w {
                tab[leave * w + j] /= pivot;
            }
            for r in 0..=m {
                let f = tab[r * w + enter];
                if r != leave && f != 0.0 {
                    for j in 0..w {
                        tab[r * w + j] -= f * tab[leave * w + j];
                    }
                }
            }
            self.basis[leave] = enter;
        }
        x.fill(0.0);
        for r in 0..m {
            if self.basis[r] < n {
                x[self.basis[r]] = tab[r * w + w - 1].max(0.0);
            }
        }
        x.iter().zip(objective).map(|(x, c)| x * c).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn instance(rewards: &[f64], costs: &[&[f64]], budgets: &[f64], consumption: Consumption, null: bool) -> Knapsack {
        let costs = costs.iter().map(|r| r.to_vec()).collect();
        Knapsack::new(rewards.to_vec(), costs, budgets.to_vec(), consumption, null).unwrap()
    }

    /// Records what the loop asks of a policy: it plays arm `arm` always.
    struct Recorder {
        arm: usize,
        selects: u64,
        updates: u64,
        consumed: Vec<f64>,
    }

    impl Learner for Recorder {
        fn select(&mut self, _rng: &mut Stream) -> usize {
            self.selects += 1;
            self.arm
        }
        fn update(&mut self, _arm: usize, _reward: f64, consumption: &[f64], _rng: &mut Stream) {
            self.updates += 1;
            for (u, c) in self.consumed.iter_mut().zip(consumption) {
                *u += c;
            }
        }
    }

    fn run_of<'a>(horizon: u64, checkpoints: &'a [u64]) -> FamilyRun<'a> {
        FamilyRun { master_seed: 3, env_id: "k", policy_id: "p", seed_index: 0, horizon, checkpoints }
    }

    #[test]
    fn the_run_stops_at_the_step_that_would_overdraw_and_plays_no_more() {
        // Arm 0 costs 0.3: 3 pulls use 0.9 of a budget of 1, the 4th would overdraw.
        let env = instance(&[0.5, 0.1], &[&[0.3], &[0.1]], &[1.0], Consumption::Deterministic, false);
        let cps = [2, 5, 10];
        let mut rec = Recorder { arm: 0, selects: 0, updates: 0, consumed: vec![0.0] };
        let lp = env.lp_optimum(10);
        let out = env.play(&mut rec, &run_of(10, &cps), &lp);
        assert_eq!((rec.selects, rec.updates), (4, 3));
        assert!((rec.consumed[0] - 0.9).abs() < 1e-12);
        assert_eq!(out.measures[0], Measure { name: "stopped-at", value: 3.0 });
        // LP: 0.3 x0 + 0.1 x1 ≤ 0.1, x0 + x1 ≤ 1. Arm 0 earns 5/3 per unit of budget, arm 1
        // earns 1, so x0 = 1/3 (1/6 per step) beats x1 = 1 (0.1 per step): OPT_LP = 10/6.
        assert!((lp.value - 10.0 / 6.0).abs() < 1e-6, "{lp:?}");
        // The regret after the stop: the benchmark's OPT_LP/T per step goes on, the policy
        // earns nothing: 5 · OPT_LP/10 − 1.5 at step 5, OPT_LP − 1.5 at the horizon.
        assert!((out.regret[1] - (lp.value / 2.0 - 1.5)).abs() < 1e-9);
        assert!((out.regret[2] - (lp.value - 1.5)).abs() < 1e-9);
        // Ten pulls of 0.1 fit a budget of 1 despite round-off.
        let mut rec = Recorder { arm: 1, selects: 0, updates: 0, consumed: vec![0.0] };
        let out = env.play(&mut rec, &run_of(20, &cps_of(20)), &env.lp_optimum(20));
        assert_eq!(out.measures[0].value, 10.0);
        assert_eq!(rec.selects, 11);
    }

    fn cps_of(t: u64) -> Vec<u64> {
        vec![t]
    }

    #[test]
    fn the_null_arm_is_the_slack_of_the_lp() {
        // One step's budget 0.1 buys a tenth of a step of arm 0: x0 = 0.1, slack 0.9.
        let env = instance(&[0.9, 0.05], &[&[1.0], &[1.0]], &[10.0], Consumption::Deterministic, true);
        let lp = env.lp_optimum(100);
        assert!((lp.value - 9.0).abs() < 1e-6);
        assert!((lp.weights[2] - 0.9).abs() < 1e-6);
        assert_eq!(lp.support, vec![true, false, true]);
        assert_eq!(lp.rank, vec![2, 0, 1]);
        assert_eq!(env.null_arm(), Some(2));
    }

    #[test]
    fn lagrange_weights_are_distributions_and_penalise_overspending() {
        // Arm 0 pays 1 and burns the whole budget rate 4 times over; arm 1 pays 0.5 for free.
        let mut p = LagrangeBwk::new(2, &[250.0], 1000, Some(0.05), Some(0.05));
        let mut rng = rng::stream(0, Role::Policy, &[], 0);
        for _ in 0..200 {
            p.update(0, 1.0, &[1.0], &mut rng);
            p.update(1, 0.5, &[0.0], &mut rng);
        }
        assert!((p.lambda().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p.probabilities().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Spending 1 per step where the budget allows 0.25 makes the resource the dual's
        // choice; under λ on the resource, arm 0's payoff 1 + (1 − 4) = −2 < arm 1's 1.5.
        assert!(p.lambda()[1] > 0.9, "{:?}", p.lambda());
        assert!(p.probabilities()[1] > p.probabilities()[0], "{:?}", p.probabilities());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// The dense simplex agrees with microlp on random instances of the benchmark LP.
        #[test]
        fn dense_simplex_matches_microlp(
            k in 1usize..7,
            d in 1usize..4,
            seed in any::<u64>(),
        ) {
            let mut r = rng::stream(seed, Role::Instance, &[], 0);
            let rewards: Vec<f64> = (0..k).map(|_| rng::uniform(&mut r)).collect();
            // Costs: a third exactly zero, the rest in [0.01, 1].
            let costs: Vec<Vec<f64>> = (0..k)
                .map(|_| (0..d).map(|_| {
                    let u = rng::uniform(&mut r);
                    if u < 1.0 / 3.0 { 0.0 } else { 0.01 + 0.99 * rng::uniform(&mut r) }
                }).collect())
                .collect();
            let per_step: Vec<f64> = (0..d).map(|_| 0.01 + rng::uniform(&mut r)).collect();
            let want = solve_with_microlp(&rewards, &costs, &per_step).unwrap();
            let want_value: f64 = want.iter().zip(&rewards).map(|(x, r)| x * r).sum();
            let mut lp = DenseSimplex::new(d + 1, k);
            let mut matrix: Vec<f64> = (0..d).flat_map(|i| costs.iter().map(move |row| row[i])).collect();
            matrix.extend(std::iter::repeat_n(1.0, k));
            let mut rhs = per_step.clone();
            rhs.push(1.0);
            let mut x = vec![0.0; k];
            let value = lp.solve(&rewards, &matrix, &rhs, &mut x);
            prop_assert!((value - want_value).abs() < 1e-7, "dense {} microlp {}", value, want_value);
            // Feasible within round-off.
            for i in 0..d {
                let used: f64 = (0..k).map(|a| costs[a][i] * x[a]).sum();
                prop_assert!(used <= per_step[i] + 1e-9);
            }
            prop_assert!(x.iter().sum::<f64>() <= 1.0 + 1e-9);
        }

        /// Whatever arm a policy insists on, consumption stays within every budget, the loop
        /// asks for exactly one decision past the last counted step when it stops early (none
        /// when it reaches the horizon), and the pulls add up to the counted steps.
        #[test]
        fn consumption_never_exceeds_a_budget(
            arm in 0usize..3,
            bernoulli in any::<bool>(),
            budget in 0.5f64..40.0,
            horizon in 1u64..200,
            seed in any::<u64>(),
        ) {
            let consumption = if bernoulli { Consumption::Bernoulli } else { Consumption::Deterministic };
            let env = instance(&[0.7, 0.4], &[&[0.9, 0.2], &[0.15, 0.6]], &[budget, budget * 0.7], consumption, true);
            let cps = cps_of(horizon);
            let run = FamilyRun { master_seed: seed, env_id: "k", policy_id: "p", seed_index: 0, horizon, checkpoints: &cps };
            let mut rec = Recorder { arm, selects: 0, updates: 0, consumed: vec![0.0; 2] };
            let out = env.play(&mut rec, &run, &env.lp_optimum(horizon));
            for (u, b) in rec.consumed.iter().zip(env.budgets()) {
                prop_assert!(*u <= b * (1.0 + BUDGET_SLACK));
            }
            let played = out.measures[0].value as u64;
            prop_assert_eq!(rec.updates, played);
            prop_assert_eq!(rec.selects, played + u64::from(played < horizon));
            prop_assert_eq!(out.pulls_by_rank.iter().sum::<u64>(), played);
            prop_assert!(out.measures[2].value <= 1.0 + BUDGET_SLACK);
        }
    }
}
