//! Aggregation: from per-run records to what an experiment reports — per environment × policy
//! regret mean ± 95% CI, realised reward, MinFrac/OptFrac, pairwise win-rates, the regret-shape
//! fit — and the machine-readable renderings of it (`summary.json`, `curves.csv`, `runs.csv`).
//!
//! The renderings carry no timestamps or timings and are built in a fixed order, so they are
//! byte-identical for the same spec and seed at any thread count.

use crate::harness::{Experiment, RunRecord};
use crate::metrics::{self, RegretFit};
use crate::policy::AgentStats;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Everything an experiment measured, aggregated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub seed: u64,
    pub seeds: u64,
    /// One row per environment × policy, environment-major in spec order.
    pub results: Vec<ResultRow>,
    /// Each policy's win-rate aggregated over all environments.
    pub win_rates: Vec<WinRate>,
    pub environments: Vec<EnvInfo>,
    /// The curves behind `curves.csv` (not part of `summary.json`).
    #[serde(skip)]
    pub curves: Vec<Curve>,
}

/// The aggregate of one environment × policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResultRow {
    pub env: String,
    pub policy: String,
    /// Canonical policy description (algorithm and every parameter).
    pub policy_id: String,
    pub horizon: u64,
    pub seeds: u64,
    /// Cumulative pseudo-regret at the horizon: mean, sample sd, 95% CI half-width.
    pub mean_regret: f64,
    pub std_regret: f64,
    pub ci95_regret: Option<f64>,
    /// Realised cumulative reward.
    pub mean_reward: f64,
    pub std_reward: f64,
    pub ci95_reward: Option<f64>,
    /// MinFrac and OptFrac at the horizon, averaged over seeds.
    pub min_frac: f64,
    pub opt_frac: f64,
    /// Win-rate on this environment: significant wins / other policies (None when alone).
    pub win_rate: Option<f64>,
    pub wins: usize,
    pub comparisons: usize,
    /// The policies this one significantly beats on this environment.
    pub beats: Vec<String>,
    pub fit_alpha: Option<f64>,
    pub fit_beta: Option<f64>,
    pub fit_lambda1: Option<f64>,
    pub fit_lambda2: Option<f64>,
    pub fit_r2: Option<f64>,
    /// β·T divided by the mean regret at the horizon.
    pub fit_linear_share: Option<f64>,
    pub sublinear: Option<bool>,
    /// Mean share of pulls of the best, second-best, … arm.
    pub pull_share_by_rank: Vec<f64>,
    /// For agents: their answers and calls, summed over seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentSummary>,
    /// A structured family's own numbers (e.g. constraint violations), mean ± CI over seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<MeasureRow>,
}

/// One family measure aggregated over seeds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeasureRow {
    pub name: String,
    pub mean: f64,
    pub ci95: Option<f64>,
    pub min: f64,
    pub max: f64,
}

/// Aggregates the family measures of one configuration's runs (every run reports the same
/// names in the same order).
fn measure_rows(recs: &[RunRecord]) -> Vec<MeasureRow> {
    let Some(first) = recs.first() else { return Vec::new() };
    first
        .measures
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let xs: Vec<f64> = recs.iter().map(|r| r.measures[i].value).collect();
            let (mean, sd) = metrics::mean_std(&xs);
            MeasureRow {
                name: m.name.to_string(),
                mean,
                ci95: metrics::ci95_half_width(sd, xs.len()),
                min: xs.iter().copied().fold(f64::INFINITY, f64::min),
                max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            }
        })
        .collect()
}

/// What an agent's runs counted, summed over seeds. Only counts that the spec and seed
/// determine: wall times, cache hits, retries and money spent depend on the machine, the server
/// and earlier runs, so they stay out of `summary.json` (see [`AgentCalls`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub decisions: u64,
    /// Decisions whose first answer named no arm.
    pub invalid_decisions: u64,
    /// invalid_decisions / decisions.
    pub invalid_rate: f64,
    /// Every answer that named no arm, re-asks included.
    pub invalid_answers: u64,
    pub reasks: u64,
    /// Steps decided by a random fallback, and steps forfeited.
    pub fallbacks: u64,
    pub forfeits: u64,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Mean prompt length per call, in characters, and the longest.
    pub mean_prompt_chars: f64,
    pub max_prompt_chars: u64,
}

/// How an agent's calls went, summed over seeds: what varies from run to run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentCalls {
    pub env: String,
    pub policy: String,
    pub calls: u64,
    pub cache_hits: u64,
    pub retries: u64,
    /// Money spent on calls that were not cached, at the configured prices.
    pub cost: f64,
    /// Wall time of the calls that were not cached, in seconds: total and per call.
    pub latency_s: f64,
    pub latency_per_call_s: Option<f64>,
}

/// Sums the agent counters of `records`; None when they are not an agent's.
pub fn agent_totals(records: &[RunRecord]) -> Option<AgentStats> {
    let mut total: Option<AgentStats> = None;
    for s in records.iter().filter_map(|r| r.agent.as_ref()) {
        total.get_or_insert_with(AgentStats::default).add(s);
    }
    total
}

/// The per-(environment, policy) call statistics of the agents in `exp`.
pub fn agent_calls(exp: &Experiment, records: &[RunRecord]) -> Vec<AgentCalls> {
    let seeds = exp.seeds as usize;
    let n_pol = exp.policies.len();
    let mut out = Vec::new();
    for (e, env) in exp.envs.iter().enumerate() {
        for (p, pol) in exp.policies.iter().enumerate() {
            let start = (e * n_pol + p) * seeds;
            let Some(t) = agent_totals(&records[start..start + seeds]) else { continue };
            let uncached = t.calls - t.cache_hits;
            out.push(AgentCalls {
                env: env.label.clone(),
                policy: pol.label.clone(),
                calls: t.calls,
                cache_hits: t.cache_hits,
                retries: t.retries,
                cost: t.cost,
                latency_s: t.latency_s,
                latency_per_call_s: (uncached > 0).then(|| t.latency_s / uncached as f64),
            });
        }
    }
    out
}

/// A policy's win-rate over all environments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WinRate {
    pub policy: String,
    pub wins: usize,
    pub comparisons: usize,
    pub win_rate: Option<f64>,
}

/// What an environment was.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnvInfo {
    pub env: String,
    pub identity: String,
    pub arms: usize,
    pub horizon: u64,
    pub reward: String,
    /// What regret is measured against (the best arm; the best arm per context or per step; a
    /// structured family's oracle).
    #[serde(default)]
    pub regret: String,
    /// Whether every seed index plays the same instance (only the noise differs).
    #[serde(default)]
    pub same_instance: bool,
    /// Whether the environment shows a context before each decision (regret is then measured
    /// against the best arm in each step's context).
    #[serde(default)]
    pub contextual: bool,
    /// Whether the arm means change over time (regret is then against the best arm at each step).
    #[serde(default)]
    pub nonstationary: bool,
    /// The arm means when every seed index uses the same instance; None otherwise.
    pub means: Option<Vec<f64>>,
    /// Mean over seeds of the smallest positive gap (the Δmin of the regret fit).
    pub mean_min_gap: Option<f64>,
}

/// The mean ± CI curves of one environment × policy at its checkpoints.
#[derive(Clone, Debug)]
pub struct Curve {
    pub env: String,
    pub policy: String,
    pub t: Vec<u64>,
    pub mean_regret: Vec<f64>,
    pub ci95_regret: Vec<Option<f64>>,
    pub min_frac: Vec<f64>,
    pub opt_frac: Vec<f64>,
}

/// Aggregates the records of `exp` (in run order, as returned by the harness).
pub fn summarize(exp: &Experiment, records: &[RunRecord]) -> Summary {
    let seeds = exp.seeds as usize;
    let n_pol = exp.policies.len();
    let group = |e: usize, p: usize| {
        let start = (e * n_pol + p) * seeds;
        &records[start..start + seeds]
    };
    let mut results = Vec::new();
    let mut curves = Vec::new();
    let mut environments = Vec::new();
    let mut total_wins = vec![0usize; n_pol];
    let mut total_cmp = vec![0usize; n_pol];
    for (e, env) in exp.envs.iter().enumerate() {
        let horizon = exp.horizon_of(e);
        let cps = exp.checkpoints_of(e);
        let gaps: Vec<f64> = group(e, 0).iter().filter_map(|r| r.min_gap).collect();
        let mean_min_gap = if gaps.is_empty() { None } else { Some(gaps.iter().sum::<f64>() / gaps.len() as f64) };
        // Arm means exist only for classic environments (a contextual arm's mean changes with
        // the context), and are shown only when every seed plays the same instance.
        let fixed = exp.seeds < 2 || env.fixed_instance();
        let classic = !env.is_contextual() && !env.is_nonstationary() && env.family().is_none();
        let means = (fixed && classic).then(|| env.instantiate(exp.seed, 0).means);
        environments.push(EnvInfo {
            env: env.label.clone(),
            identity: env.identity(),
            arms: env.arms(),
            horizon,
            reward: env.reward_name(),
            regret: env.regret_name(),
            same_instance: fixed,
            contextual: env.is_contextual(),
            nonstationary: env.is_nonstationary(),
            means,
            mean_min_gap,
        });
        let rewards: Vec<Vec<f64>> = (0..n_pol).map(|p| group(e, p).iter().map(|r| r.reward).collect()).collect();
        for (p, pol) in exp.policies.iter().enumerate() {
            let recs = group(e, p);
            let finals: Vec<f64> = recs.iter().map(RunRecord::final_regret).collect();
            let (mean_regret, std_regret) = metrics::mean_std(&finals);
            let (mean_reward, std_reward) = metrics::mean_std(&rewards[p]);
            let mut curve = Curve {
                env: env.label.clone(),
                policy: pol.label.clone(),
                t: cps.clone(),
                mean_regret: Vec::with_capacity(cps.len()),
                ci95_regret: Vec::with_capacity(cps.len()),
                min_frac: Vec::with_capacity(cps.len()),
                opt_frac: Vec::with_capacity(cps.len()),
            };
            for c in 0..cps.len() {
                let at: Vec<f64> = recs.iter().map(|r| r.regret[c]).collect();
                let (m, s) = metrics::mean_std(&at);
                curve.mean_regret.push(m);
                curve.ci95_regret.push(metrics::ci95_half_width(s, seeds));
                curve.min_frac.push(mean(recs.iter().map(|r| r.min_frac[c])));
                curve.opt_frac.push(mean(recs.iter().map(|r| r.opt_frac[c])));
            }
            let t: Vec<f64> = cps.iter().map(|&x| x as f64).collect();
            let fit: Option<RegretFit> = metrics::fit_regret(&t, &curve.mean_regret, mean_min_gap.unwrap_or(1.0));
            let beats: Vec<String> = (0..n_pol)
                .filter(|&q| q != p && metrics::beats(&rewards[p], &rewards[q]))
                .map(|q| exp.policies[q].label.clone())
                .collect();
            let comparisons = n_pol - 1;
            total_wins[p] += beats.len();
            total_cmp[p] += comparisons;
            let k = env.arms();
            let pull_share_by_rank =
                (0..k).map(|i| mean(recs.iter().map(|r| r.pulls_by_rank[i] as f64 / horizon as f64))).collect();
            results.push(ResultRow {
                env: env.label.clone(),
                policy: pol.label.clone(),
                policy_id: pol.identity(),
                horizon,
                seeds: exp.seeds,
                mean_regret,
                std_regret,
                ci95_regret: metrics::ci95_half_width(std_regret, seeds),
                mean_reward,
                std_reward,
                ci95_reward: metrics::ci95_half_width(std_reward, seeds),
                min_frac: *curve.min_frac.last().unwrap_or(&f64::NAN),
                opt_frac: *curve.opt_frac.last().unwrap_or(&f64::NAN),
                win_rate: (comparisons > 0).then(|| beats.len() as f64 / comparisons as f64),
                wins: beats.len(),
                comparisons,
                beats,
                fit_alpha: fit.and_then(|f| f.alpha),
                fit_beta: fit.map(|f| f.beta),
                fit_lambda1: fit.map(|f| f.lambda1),
                fit_lambda2: fit.map(|f| f.lambda2),
                fit_r2: fit.map(|f| f.r2),
                fit_linear_share: fit.map(|f| f.linear_share),
                sublinear: fit.map(|f| f.sublinear),
                pull_share_by_rank,
                agent: agent_totals(recs).map(|t| AgentSummary {
                    decisions: t.decisions,
                    invalid_decisions: t.invalid_decisions,
                    invalid_rate: t.invalid_decisions as f64 / t.decisions.max(1) as f64,
                    invalid_answers: t.invalid_answers,
                    reasks: t.reasks,
                    fallbacks: t.fallbacks,
                    forfeits: t.forfeits,
                    calls: t.calls,
                    prompt_tokens: t.prompt_tokens,
                    completion_tokens: t.completion_tokens,
                    mean_prompt_chars: t.prompt_chars as f64 / t.calls.max(1) as f64,
                    max_prompt_chars: t.max_prompt_chars,
                }),
                measures: measure_rows(recs),
            });
            curves.push(curve);
        }
    }
    let win_rates = exp
        .policies
        .iter()
        .enumerate()
        .map(|(p, pol)| WinRate {
            policy: pol.label.clone(),
            wins: total_wins[p],
            comparisons: total_cmp[p],
            win_rate: (total_cmp[p] > 0).then(|| total_wins[p] as f64 / total_cmp[p] as f64),
        })
        .collect();
    Summary { name: exp.name.clone(), seed: exp.seed, seeds: exp.seeds, results, win_rates, environments, curves }
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in xs {
        s += x;
        n += 1;
    }
    s / n as f64
}

/// A CSV field, quoted when it contains a comma, quote or newline.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

impl Summary {
    /// `summary.json`: pretty-printed, fixed field order.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("summary serializes");
        s.push('\n');
        s
    }

    /// `curves.csv`: env, policy, t, mean_regret, ci95_regret, min_frac, opt_frac.
    pub fn curves_csv(&self) -> String {
        let mut out = format!("{CURVES_HEADER}\n");
        for c in &self.curves {
            let (e, p) = (csv_field(&c.env), csv_field(&c.policy));
            for i in 0..c.t.len() {
                let _ = writeln!(
                    out,
                    "{e},{p},{},{},{},{},{}",
                    c.t[i],
                    c.mean_regret[i],
                    opt(c.ci95_regret[i]),
                    c.min_frac[i],
                    c.opt_frac[i]
                );
            }
        }
        out
    }
}

/// The header line of `curves.csv`.
pub const CURVES_HEADER: &str = "env,policy,t,mean_regret,ci95_regret,min_frac,opt_frac";

/// Reads back a `curves.csv` written by [`Summary::curves_csv`]: one [`Curve`] per environment ×
/// policy, in file order. The error names the line.
pub fn parse_curves_csv(text: &str) -> Result<Vec<Curve>, String> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, CURVES_HEADER)) => {}
        _ => return Err(format!("line 1: not a curves.csv header ({CURVES_HEADER})")),
    }
    let mut curves: Vec<Curve> = Vec::new();
    for (i, line) in lines {
        let fields = split_csv_line(line);
        if fields.len() != 7 {
            return Err(format!("line {}: expected 7 fields, found {}", i + 1, fields.len()));
        }
        let num = |j: usize| -> Result<f64, String> {
            fields[j]
                .parse::<f64>()
                .map_err(|_| format!("line {}: field {} is not a number: {:?}", i + 1, j + 1, fields[j]))
        };
        let t = fields[2].parse::<u64>().map_err(|_| format!("line {}: t is not a whole number", i + 1))?;
        let ci = if fields[4].is_empty() { None } else { Some(num(4)?) };
        let same = curves.last().is_some_and(|c| c.env == fields[0] && c.policy == fields[1]);
        if !same {
            curves.push(Curve {
                env: fields[0].clone(),
                policy: fields[1].clone(),
                t: Vec::new(),
                mean_regret: Vec::new(),
                ci95_regret: Vec::new(),
                min_frac: Vec::new(),
                opt_frac: Vec::new(),
            });
        }
        let c = curves.last_mut().expect("pushed above");
        c.t.push(t);
        c.mean_regret.push(num(3)?);
        c.ci95_regret.push(ci);
        c.min_frac.push(num(5)?);
        c.opt_frac.push(num(6)?);
    }
    Ok(curves)
}

/// Splits one CSV line as written by [`csv_field`] (double-quoted fields, "" for a quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `runs.csv`: one row per run — env, policy, seed (index), regret (at the horizon), reward,
/// min_frac, opt_frac.
pub fn runs_csv(exp: &Experiment, records: &[RunRecord]) -> String {
    let mut out = String::from("env,policy,seed,regret,reward,min_frac,opt_frac\n");
    for r in records {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{}",
            csv_field(&exp.envs[r.id.env].label),
            csv_field(&exp.policies[r.id.policy].label),
            r.id.seed_index,
            r.final_regret(),
            r.reward,
            r.min_frac.last().copied().unwrap_or(f64::NAN),
            r.opt_frac.last().copied().unwrap_or(f64::NAN),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_csv_round_trips() {
        let c = Curve {
            env: "a,b".into(),
            policy: "ucb(alpha=1,\"x\")".into(),
            t: vec![1, 10],
            mean_regret: vec![0.5, 2.25],
            ci95_regret: vec![None, Some(0.125)],
            min_frac: vec![0.0, 1.0],
            opt_frac: vec![0.5, 0.75],
        };
        let s = Summary {
            name: "x".into(),
            seed: 0,
            seeds: 1,
            results: vec![],
            win_rates: vec![],
            environments: vec![],
            curves: vec![c.clone(), Curve { env: "e2".into(), ..c.clone() }],
        };
        let back = parse_curves_csv(&s.curves_csv()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!((back[0].env.as_str(), back[0].policy.as_str()), (c.env.as_str(), c.policy.as_str()));
        assert_eq!(back[0].t, c.t);
        assert_eq!(back[0].ci95_regret, c.ci95_regret);
        assert_eq!(back[1].env, "e2");
        assert!(parse_curves_csv("nope\n").unwrap_err().contains("line 1"));
        let bad = "env,policy,t,mean_regret,ci95_regret,min_frac,opt_frac\ne,p,1,x,,0,0\n";
        assert!(parse_curves_csv(bad).unwrap_err().contains("line 2"));
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("ucb"), "ucb");
        assert_eq!(csv_field("ucb(alpha=1,b=2)"), "\"ucb(alpha=1,b=2)\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
