//! Files and text the CLI produces: the output directory, the terminal table, `armada list`.

use anyhow::Context;
use armada::env::CLASSIC_REGRET;
use armada::env::presets::ENV_PRESETS;
use armada::harness::{Experiment, RunRecord};
use armada::policy::{POLICIES, ParamValue};
use armada::spec::EXPERIMENT_PRESETS;
use armada::summary::{Summary, runs_csv};
use std::fmt::Write as _;
use std::path::Path;

/// The files an experiment writes; their presence marks a directory as holding results.
pub const RESULT_FILES: &[&str] =
    &["spec.toml", "summary.json", "curves.csv", "runs.csv", "timing.json", "report.html"];

pub enum DirError {
    /// The directory already holds results and `--force` was not given.
    Occupied(String),
    Io(anyhow::Error),
}

/// Creates the output directory, refusing to overwrite earlier results unless `force`.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), DirError> {
    if dir.is_file() {
        return Err(DirError::Occupied(format!("--out {}: is a file, not a directory", dir.display())));
    }
    if !force && RESULT_FILES.iter().any(|f| dir.join(f).exists()) {
        return Err(DirError::Occupied(format!(
            "{} already holds results; choose another --out or pass --force to overwrite them",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display())).map_err(DirError::Io)
}

/// Writes spec.toml, summary.json, curves.csv, runs.csv and timing.json (and agents.json: the
/// agents' calls, cache hits, retries, cost and latency, which vary from run to run).
pub fn write_all(
    dir: &Path,
    exp: &Experiment,
    records: &[RunRecord],
    summary: &Summary,
    seconds: f64,
    threads: usize,
) -> anyhow::Result<()> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("spec.toml", armada::spec::to_toml(exp))?;
    write("summary.json", summary.to_json())?;
    write("curves.csv", summary.curves_csv())?;
    write("runs.csv", runs_csv(exp, records))?;
    let steps = exp.total_steps();
    let timing = serde_json::json!({
        "wall_seconds": seconds,
        "threads": threads,
        "runs": exp.run_count(),
        "steps": steps,
        "steps_per_second": steps as f64 / seconds.max(1e-9),
        "finished_unix": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    });
    write("timing.json", format!("{}\n", serde_json::to_string_pretty(&timing)?))?;
    let calls = armada::summary::agent_calls(exp, records);
    if !calls.is_empty() {
        write("agents.json", format!("{}\n", serde_json::to_string_pretty(&calls)?))?;
    }
    Ok(())
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 { format!("{x:.1}") } else { format!("{x:.2}") }
}

/// The terminal table: one row per environment × policy, then overall win-rates.
pub fn table(s: &Summary) -> String {
    let header = ["env", "policy", "regret (mean ± 95% CI)", "reward", "OptFrac", "MinFrac", "win-rate", "shape"];
    let mut rows: Vec<[String; 8]> = Vec::new();
    for r in &s.results {
        let ci = r.ci95_regret.map(|c| format!(" ± {}", fmt_num(c))).unwrap_or_default();
        rows.push([
            r.env.clone(),
            r.policy.clone(),
            format!("{}{ci}", fmt_num(r.mean_regret)),
            fmt_num(r.mean_reward),
            format!("{:.3}", r.opt_frac),
            format!("{:.3}", r.min_frac),
            r.win_rate.map(|w| format!("{:.0}%", 100.0 * w)).unwrap_or_else(|| "-".into()),
            match r.sublinear {
                Some(true) => "sub-linear".into(),
                Some(false) => "linear".into(),
                None => "-".into(),
            },
        ]);
    }
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            // Text columns left-aligned, numbers right-aligned.
            if i < 2 {
                let _ = write!(out, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{c}", " ".repeat(pad));
            }
            if i + 1 < cells.len() {
                out.push_str("  ");
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header.map(String::from));
    out.push_str(&line(&widths.map(|w| "-".repeat(w))));
    let mut last_env = None;
    for (row, r) in rows.iter().zip(&s.results) {
        if last_env.is_some() && last_env != Some(&r.env) {
            out.push('\n');
        }
        last_env = Some(&r.env);
        out.push_str(&line(row));
    }
    let notions: Vec<_> =
        s.environments.iter().filter(|e| !e.regret.is_empty() && e.regret != CLASSIC_REGRET).collect();
    if !notions.is_empty() {
        let _ = writeln!(out, "\nRegret is measured against:");
        for e in notions {
            let _ = writeln!(out, "  {}: {}", e.env, e.regret);
        }
    }
    let measured: Vec<&armada::summary::ResultRow> = s.results.iter().filter(|r| !r.measures.is_empty()).collect();
    if !measured.is_empty() {
        let _ = writeln!(out, "\nFamily measures (mean ± 95% CI over seeds, [min, max]):");
        for r in measured {
            let parts: Vec<String> = r
                .measures
                .iter()
                .map(|m| {
                    let ci = m.ci95.map(|c| format!(" ± {}", fmt_num(c))).unwrap_or_default();
                    format!("{} {}{ci} [{}, {}]", m.name, fmt_num(m.mean), fmt_num(m.min), fmt_num(m.max))
                })
                .collect();
            let _ = writeln!(out, "  {} / {}: {}", r.env, r.policy, parts.join("; "));
        }
    }
    let agents: Vec<&armada::summary::ResultRow> = s.results.iter().filter(|r| r.agent.is_some()).collect();
    if !agents.is_empty() {
        let _ = writeln!(out, "\nAgents (summed over seeds):");
        for r in agents {
            let a = r.agent.as_ref().expect("filtered");
            let _ = writeln!(
                out,
                "  {} / {}: invalid answers {:.1}% of decisions ({} of {}; {} re-asks, {} random fallbacks, {} \
                 forfeits), {} calls, {} prompt + {} completion tokens, mean prompt {:.0} chars (max {})",
                r.env,
                r.policy,
                100.0 * a.invalid_rate,
                a.invalid_decisions,
                a.decisions,
                a.reasks,
                a.fallbacks,
                a.forfeits,
                a.calls,
                a.prompt_tokens,
                a.completion_tokens,
                a.mean_prompt_chars,
                a.max_prompt_chars
            );
        }
    }
    if s.win_rates.iter().any(|w| w.win_rate.is_some()) {
        let _ =
            writeln!(out, "\nWin-rate over all environments (one-sided Welch t-test on cumulative reward, p < 0.05):");
        let width = s.win_rates.iter().map(|w| w.policy.chars().count()).max().unwrap_or(0);
        let mut order: Vec<_> = s.win_rates.iter().collect();
        order.sort_by(|a, b| b.win_rate.unwrap_or(0.0).total_cmp(&a.win_rate.unwrap_or(0.0)));
        for w in order {
            let _ = writeln!(
                out,
                "  {:width$}  {:>5.1}%  ({} of {})",
                w.policy,
                100.0 * w.win_rate.unwrap_or(0.0),
                w.wins,
                w.comparisons
            );
        }
    }
    out
}

/// `armada list`: what exists, with parameters and defaults.
pub fn listing() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ENVIRONMENTS  ([[env]] tables)");
    let _ = writeln!(out, "  kind = \"bernoulli\"   means = [p1, p2, ...] (each in [0, 1])");
    let _ =
        writeln!(out, "  kind = \"gaussian\"    means = [...], sigma = S (shared) or sigmas = [...] (per arm), S > 0");
    let _ = writeln!(out, "  preset = NAME, arms = K (K >= 2):");
    for p in ENV_PRESETS {
        let _ = writeln!(out, "    {:16} {}", p.name(), p.description());
    }
    let _ = writeln!(out, "  common keys: name (label), shuffle (default: true for presets, false otherwise),");
    let _ = writeln!(
        out,
        "               instance_seed (same instance for every seed), horizon (overrides the experiment's)"
    );
    let _ = writeln!(
        out,
        "  kind = \"piecewise\"  segments = [[means], ...], change_points = [t1, ...],\n\
         \x20                      reward = \"bernoulli\"|\"gaussian\" (sigma)|\"deterministic\", regret = \"dynamic\"|\"fixed-arm\""
    );
    let _ = writeln!(
        out,
        "  kind = \"drifting\"   arms, period, amplitude (0.4), center (0.5), reward, regret (as piecewise)"
    );
    let _ = writeln!(out, "  contextual (a context before every decision; see docs/contextual.md):");
    let _ = writeln!(
        out,
        "  kind = \"linear\"     arms, features = d, arm_features = m (0), context = \"gaussian\"|\"sphere\",\n\
         \x20                      reward = \"gaussian\" (sigma, default 0.1)|\"logistic\", instance_seed"
    );
    let _ = writeln!(
        out,
        "  kind = \"movielens\"  data = DIR, arms = K (most-rated movies), rank (5), context = \"left-singular\"|\"scaled\",\n\
         \x20                      users = \"all\"|\"train\"|\"eval\", train_users, split_seed (1), sigma (0),\n\
         \x20                      evaluation = \"model\"|\"replay\""
    );
    let _ = writeln!(out, "  structured families (their own regret notion and measures; see docs/<kind>.md):");
    for k in armada::family::KINDS {
        let _ = writeln!(out, "  kind = {:14} {}", format!("\"{}\"", k.kind), k.keys.join(", "));
    }
    let _ = writeln!(out, "\nPOLICIES  ([[policy]] tables: name = NAME, optional label, parameters)");
    let families = armada::family::KINDS.iter().flat_map(|k| k.policies);
    for d in POLICIES.iter().chain(families) {
        let family = armada::family::family_of_policy(d).map(|k| format!("  [{k} environments only]"));
        let needs = if d.contextual { "  [contextual environments only]" } else { family.as_deref().unwrap_or("") };
        let _ = writeln!(out, "  {:24} {}{needs}", d.name, d.summary);
        let _ = writeln!(out, "  {:24} ref: {}", "", d.reference);
        for p in d.params {
            let default = match &p.default {
                ParamValue::Auto => "auto".to_string(),
                ParamValue::Choice(s) => format!("\"{s}\""),
                v => v.to_string(),
            };
            let _ = writeln!(out, "  {:24}   {} = {default}  ({}): {}", "", p.name, p.expected(), p.doc);
        }
    }
    use armada::policy::AgentParser;
    for (name, summary) in armada_llm::config::LlmAgents.names() {
        let _ = writeln!(out, "  {name:24} {summary}");
        let _ = writeln!(
            out,
            "  {:24} keys and defaults: docs/llm.md (scenarios: {})",
            "",
            armada_llm::scenario::BUILT_IN.join(", ")
        );
    }
    let _ = writeln!(out, "\nEXPERIMENT PRESETS  (armada run --preset NAME)");
    for p in EXPERIMENT_PRESETS {
        let _ = writeln!(out, "  {:16} {}", p.name, p.summary);
    }
    let _ = writeln!(
        out,
        "\nSPEC KEYS  name, horizon (required), seeds (default 30), seed (default 0), checkpoints (default 50), preset (start from a preset and add [[policy]] tables)"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The terminal table of a small fixed experiment, character for character. Any change to
    /// its layout or to the numbers behind it shows up here (review with `cargo insta review`).
    #[test]
    fn terminal_table_snapshot() {
        let spec = r#"
name = "snapshot"
horizon = 300
seeds = 20
seed = 3
[[env]]
preset = "bernoulli-hard"
arms = 5
[[env]]
kind = "gaussian"
means = [0.0, 1.0]
sigma = 1.0
[[policy]]
name = "ucb"
[[policy]]
name = "thompson"
[[policy]]
name = "random"
"#;
        let exp = armada::spec::parse_spec(spec, "snapshot.toml").expect("valid spec");
        let records = armada::harness::run_experiment(&exp, &|_| {});
        let summary = armada::summary::summarize(&exp, &records);
        insta::assert_snapshot!(table(&summary));
    }
}
