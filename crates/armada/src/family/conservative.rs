//! Conservative bandits (Wu, Shariff, Lattimore, Szepesvári, ICML 2016): a Bernoulli bandit
//! with a baseline arm whose mean μ₀ the learner knows, and a constraint it must keep at every
//! step: the cumulative expected reward never falls below (1 − α)·μ₀·t, the baseline's own
//! cumulative reward minus an α share.
//!
//! The environment counts, per run, the steps on which the constraint failed (`violations`,
//! from the exact means) and the share of steps spent on the baseline arm. Regret is the usual
//! pseudo-regret against the best arm, so the price of safety is the regret difference between
//! Conservative UCB and an unconstrained UCB on the same instance. OptFrac counts steps on the
//! best arm.
//!
//! Conservative UCB plays the UCB choice J_t only if, with every arm's mean replaced by its
//! lower confidence bound, the cumulative reward after playing J_t would still meet the
//! constraint; otherwise it plays the baseline. With confidence intervals valid at all times
//! with probability ≥ 1 − δ, the constraint then holds at all times with probability ≥ 1 − δ.
//! Classic policies play too, ignoring the constraint (and are measured against it).

use super::{FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome, Tracker, fmt_list};
use crate::policy::{
    AnyPolicy, BanditInfo, ParamDef, ParamKind, ParamValue, Policy, PolicyDef, PolicySpec, PolicyVisitor,
};
use crate::rng::{self, Role, Stream};
use std::sync::Arc;
use toml::{Table, Value};

/// The family's own policy.
pub const POLICIES: &[PolicyDef] = &[PolicyDef {
    name: "conservative-ucb",
    algorithm: "conservative-ucb",
    contextual: false,
    summary: "UCB that plays its choice only while the lower confidence bound of the cumulative reward stays \
              above (1 - alpha) x the baseline's; otherwise the baseline arm",
    reference: "Wu, Shariff, Lattimore, Szepesvari (2016)",
    params: &[ParamDef {
        name: "delta",
        kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: true },
        default: ParamValue::Float(0.01),
        doc: "the constraint holds at every step with probability at least 1 - delta",
    }],
}];

/// The registry entry of this family.
pub const KIND: FamilyKind = FamilyKind { kind: "conservative", keys: KEYS, parse, policies: POLICIES };

const KEYS: &[&str] = &["means", "baseline", "alpha"];

/// Largest number of arms.
const MAX_ARMS: usize = 100_000;

/// A Bernoulli bandit with a baseline arm and a conservative constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct Conservative {
    pub means: Vec<f64>,
    /// The baseline arm (its mean is known to the learner).
    pub baseline: usize,
    /// The share of the baseline's cumulative reward the learner may lose.
    pub alpha: f64,
}

fn parse(f: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    let means = f.require("means", f.numbers("means")?, "the arms' Bernoulli means, e.g. means = [0.5, 0.6, 0.3]")?;
    if means.len() < 2 || means.len() > MAX_ARMS {
        return Err(FieldError::new("means", format!("needs 2 to {MAX_ARMS} arms, got {}", means.len())));
    }
    if let Some(i) = means.iter().position(|m| !(0.0..=1.0).contains(m)) {
        return Err(FieldError::new(format!("means[{i}]"), "must be a probability in [0, 1]"));
    }
    let baseline = f.count("baseline", 0)?.unwrap_or(0) as usize;
    if baseline >= means.len() {
        return Err(FieldError::new(
            "baseline",
            format!("is arm {baseline}, but there are {} arms (0 to {})", means.len(), means.len() - 1),
        ));
    }
    if means[baseline] <= 0.0 {
        return Err(FieldError::new(
            "baseline",
            "the baseline arm's mean must be positive (else the constraint is void)",
        ));
    }
    let alpha = f.number_in("alpha", 0.0, 1.0)?.unwrap_or(0.1);
    if alpha <= 0.0 {
        return Err(FieldError::new("alpha", "must be in (0, 1]: alpha = 0 forbids ever leaving the baseline"));
    }
    Ok(Arc::new(Conservative { means, baseline, alpha }))
}

impl FamilyEnv for Conservative {
    fn kind(&self) -> &'static str {
        "conservative"
    }
    fn arms(&self) -> usize {
        self.means.len()
    }
    fn identity(&self) -> String {
        format!("means={},baseline={},alpha={}", fmt_list(&self.means), self.baseline, self.alpha)
    }
    fn default_label(&self) -> String {
        format!("conservative-k{}-a{}", self.means.len(), self.alpha)
    }
    fn reward_name(&self) -> String {
        "bernoulli".into()
    }
    fn regret_name(&self) -> String {
        format!(
            "pseudo-regret vs the best arm, under the constraint: cumulative expected reward >= (1 - {}) x {} x t",
            self.alpha, self.means[self.baseline]
        )
    }
    fn write_toml(&self, t: &mut Table) {
        t.insert("means".into(), super::floats(&self.means));
        t.insert("baseline".into(), super::int(self.baseline as u64));
        t.insert("alpha".into(), Value::Float(self.alpha));
    }
    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        super::accept_own_and_classic("conservative", policy)
    }
    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        let model = crate::env::RewardModel::Bernoulli;
        let info = BanditInfo { arms: self.means.len(), horizon: run.horizon, reward_model: &model };
        let play = Play { env: self, run };
        match policy.def.algorithm {
            "conservative-ucb" => {
                let mut p = ConservativeUcb::new(self, policy.float("delta"));
                play.visit(&mut p)
            }
            _ => {
                let mut p: AnyPolicy = policy.build(&info);
                p.visit(play)
            }
        }
    }
}

/// One run of any policy on a conservative environment.
struct Play<'a> {
    env: &'a Conservative,
    run: &'a FamilyRun<'a>,
}

impl PolicyVisitor for Play<'_> {
    type Output = Outcome;
    fn visit<P: Policy>(self, policy: &mut P) -> Outcome {
        let (env, run) = (self.env, self.run);
        let means = &env.means[..];
        let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let floor_rate = (1.0 - env.alpha) * means[env.baseline];
        let mut reward_rng = run.stream(Role::Reward);
        let mut policy_rng = run.stream(Role::Policy);
        let mut track = Tracker::new(means.len(), run.checkpoints.len());
        let mut violations = 0u64;
        for t in 1..=run.horizon {
            let arm = policy.select(&mut policy_rng);
            // One uniform per step whatever the arm: common random numbers across policies.
            let r = f64::from(rng::uniform(&mut reward_rng) < means[arm]);
            policy.update(arm, r, &mut policy_rng);
            track.step(arm, means[arm], r, best, means[arm] == best, run.checkpoints);
            // The constraint on exact means; the tolerance absorbs rounding of the two sums.
            violations += u64::from(track.collected < floor_rate * t as f64 - 1e-9 * t as f64);
        }
        let baseline_share = track.counts[env.baseline] as f64 / run.horizon.max(1) as f64;
        let mut rank: Vec<usize> = (0..means.len()).collect();
        rank.sort_by(|&a, &b| means[b].total_cmp(&means[a]).then(a.cmp(&b)));
        let measures = vec![
            Measure { name: "violations", value: violations as f64 },
            Measure { name: "baseline-share", value: baseline_share },
        ];
        track.finish(&rank, run.checkpoints, 0.0, measures)
    }
}

/// Conservative UCB with a known baseline mean.
pub struct ConservativeUcb {
    baseline: usize,
    baseline_mean: f64,
    alpha: f64,
    /// ln(4K/δ): the confidence radius of an arm with n samples is √((this + 3 ln n)/(2n)).
    log_term: f64,
    counts: Vec<u64>,
    sums: Vec<f64>,
    t: u64,
}

impl ConservativeUcb {
    pub fn new(env: &Conservative, delta: f64) -> Self {
        let k = env.means.len();
        ConservativeUcb {
            baseline: env.baseline,
            baseline_mean: env.means[env.baseline],
            alpha: env.alpha,
            log_term: (4.0 * k as f64 / delta).ln(),
            counts: vec![0; k],
            sums: vec![0.0; k],
            t: 0,
        }
    }

    /// Hoeffding's radius for `n` samples, union-bounded over arms and sample counts: each
    /// (arm, n) fails with probability δ/(2Kn³), and Σ_n 1/(2n³) < 0.61, so every interval holds
    /// at all times with probability ≥ 1 − δ.
    fn radius(&self, n: u64) -> f64 {
        let n = n as f64;
        ((self.log_term + 3.0 * n.ln()) / (2.0 * n)).sqrt()
    }

    fn bounds(&self, arm: usize) -> (f64, f64) {
        if arm == self.baseline {
            return (self.baseline_mean, self.baseline_mean);
        }
        match self.counts[arm] {
            0 => (0.0, 1.0),
            n => {
                let (m, r) = (self.sums[arm] / n as f64, self.radius(n));
                ((m - r).max(0.0), (m + r).min(1.0))
            }
        }
    }
}

impl Policy for ConservativeUcb {
    fn select(&mut self, rng: &mut Stream) -> usize {
        let k = self.counts.len();
        // The UCB choice: unpulled arms first (upper bound 1), ties at random.
        let choice = rng::argmax_by(rng, k, |a| {
            let (_, ucb) = self.bounds(a);
            if a != self.baseline && self.counts[a] == 0 { 2.0 } else { ucb }
        });
        if choice == self.baseline {
            return choice;
        }
        // A pessimistic estimate of the cumulative reward if the choice is played now.
        let mut pessimistic = self.bounds(choice).0;
        for a in 0..k {
            pessimistic += self.counts[a] as f64 * self.bounds(a).0;
        }
        let floor = (1.0 - self.alpha) * self.baseline_mean * (self.t + 1) as f64;
        if pessimistic >= floor { choice } else { self.baseline }
    }

    fn update(&mut self, arm: usize, reward: f64, _rng: &mut Stream) {
        self.t += 1;
        self.counts[arm] += 1;
        self.sums[arm] += reward;
    }
}
