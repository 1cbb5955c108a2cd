//! The conservative family: Conservative UCB keeps the constraint, the unconstrained policies
//! do not, and the price of safety does not grow with the horizon.

use armada::harness::{RunRecord, run_experiment};
use armada::spec::{parse_spec, to_toml};
use armada::summary::summarize;

fn spec(horizon: u64, seeds: u64, alpha: f64, policies: &[&str]) -> String {
    let mut s = format!(
        "horizon = {horizon}\nseeds = {seeds}\nseed = 3\n[[env]]\nkind = \"conservative\"\n\
         means = [0.5, 0.6, 0.35, 0.3, 0.2]\nalpha = {alpha}\n"
    );
    for p in policies {
        s.push_str(&format!("[[policy]]\nname = \"{p}\"\n"));
    }
    s
}

fn measure(r: &RunRecord, name: &str) -> f64 {
    r.measures.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no measure {name}")).value
}

#[test]
fn conservative_ucb_never_violates_while_ucb_does() {
    for alpha in [0.02, 0.1] {
        let exp = parse_spec(&spec(5000, 40, alpha, &["conservative-ucb", "ucb1"]), "test").unwrap();
        let recs = run_experiment(&exp, &|_| {});
        let (safe, free) = recs.split_at(40);
        // δ = 0.01 bounds the chance that any run breaks the constraint; the union bound is
        // loose, so zero violations over 40 seeds is the expected outcome (a hard assertion).
        assert!(safe.iter().all(|r| measure(r, "violations") == 0.0), "alpha {alpha}: conservative-ucb violated");
        // UCB1 pulls every arm once first: arms 2–4 (0.35, 0.3, 0.2) put it below the floor
        // (1 − α)·0.5·t at once, so every UCB1 run violates.
        assert!(free.iter().all(|r| measure(r, "violations") > 0.0), "alpha {alpha}: ucb1 kept the constraint");
    }
}

#[test]
fn small_alpha_means_heavy_early_use_of_the_baseline() {
    let share = |alpha: f64| {
        let exp = parse_spec(&spec(2000, 10, alpha, &["conservative-ucb"]), "test").unwrap();
        let recs = run_experiment(&exp, &|_| {});
        recs.iter().map(|r| measure(r, "baseline-share")).sum::<f64>() / recs.len() as f64
    };
    let (tight, loose) = (share(0.01), share(0.3));
    assert!(tight > loose + 0.2, "baseline share {tight} (alpha 0.01) vs {loose} (alpha 0.3)");
}

#[test]
fn the_price_of_safety_does_not_grow_with_the_horizon() {
    // Wu et al.: Conservative UCB's regret exceeds UCB's by O(K/(α μ₀) · log(…)), a term that
    // grows at most logarithmically in T (ln 32000 / ln 4000 ≈ 1.25), where a linear cost would
    // grow 8-fold. Measured with α = 0.05 and 20 seeds: excess 215 at T = 4000, 163 at 32000.
    let excess = |horizon: u64| {
        let exp = parse_spec(&spec(horizon, 20, 0.05, &["conservative-ucb", "ucb1"]), "test").unwrap();
        let s = summarize(&exp, &run_experiment(&exp, &|_| {}));
        s.results[0].mean_regret - s.results[1].mean_regret
    };
    let (short, long) = (excess(4000), excess(32000));
    assert!(short > 0.0, "conservative-ucb should pay for safety at T = 4000 (excess {short})");
    assert!(long < 2.0 * short, "excess regret {short} at T = 4000, {long} at T = 32000");
}

#[test]
fn measures_reach_the_summary_and_the_spec_round_trips() {
    let exp = parse_spec(&spec(500, 4, 0.1, &["conservative-ucb", "thompson"]), "test").unwrap();
    let s = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let names: Vec<&str> = s.results[0].measures.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["violations", "baseline-share"]);
    assert!(s.environments[0].regret.contains("(1 - 0.1) x 0.5 x t"), "{}", s.environments[0].regret);
    let again = parse_spec(&to_toml(&exp), "round trip").unwrap();
    assert_eq!(again.envs[0].identity(), exp.envs[0].identity());
    assert_eq!(again.policies[0].identity(), exp.policies[0].identity());
}

#[test]
fn bad_tables_name_the_key() {
    let err = |env: &str| {
        let text = format!("horizon = 10\n[[env]]\nkind = \"conservative\"\n{env}\n[[policy]]\nname = \"ucb\"\n");
        parse_spec(&text, "t").unwrap_err().to_string()
    };
    assert!(err("means = [0.5, 0.6]\nbaseline = 2").contains("env[0].baseline"));
    assert!(err("means = [0.5, 1.6]").contains("env[0].means[1]"));
    assert!(err("means = [0.5, 0.6]\nalpha = 0").contains("env[0].alpha"));
    assert!(err("alpha = 0.1").contains("env[0].means: missing"));
    assert!(err("means = [0.5, 0.6]\nsigma = 1").contains("env[0].sigma: unknown key"));
    // A family's own policy refuses classic environments.
    let text =
        "horizon = 10\n[[env]]\nkind = \"bernoulli\"\nmeans = [0.5, 0.6]\n[[policy]]\nname = \"conservative-ucb\"\n";
    let e = parse_spec(text, "t").unwrap_err().to_string();
    assert!(e.contains("policy[0]") && e.contains("conservative environments only"), "{e}");
}

#[test]
fn the_example_runs() {
    let mut exp = parse_spec(include_str!("../../../examples/conservative.toml"), "example").unwrap();
    exp.seeds = 3;
    exp.horizon = 2000;
    let recs = run_experiment(&exp, &|_| {});
    assert!(recs[..3].iter().all(|r| measure(r, "violations") == 0.0));
}
