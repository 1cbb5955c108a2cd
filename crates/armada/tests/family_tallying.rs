//! Weighted tallying bandits: the best-sequence oracle against brute force and theory, block
//! successive elimination against memory-blind UCB1 (the validation targets of Malik, Igoe, Li,
//! Singh 2023), spec errors, round trips and reproducibility.

use armada::family::tallying::{Benchmark, Tallying, parse_table};
use armada::harness::{Experiment, run_experiment};
use armada::spec::{parse_spec, to_toml};
use armada::summary::summarize;
use proptest::prelude::*;
use toml::{Table, Value};

/// The validation instance: K = 5, m = 5, unit weights; arm 0 is the REO arm with
/// f₀(y) = 1 − 0.9 (y/W)², arms 1–4 constant 0.3 … 0.6.
const VALIDATION: &str = r#"
kind = "tallying"
memory = 5
losses = [
  { shape = "power", at_zero = 1.0, at_full = 0.1, exponent = 2.0 },
  { shape = "constant", mean = 0.3 },
  { shape = "constant", mean = 0.4 },
  { shape = "constant", mean = 0.5 },
  { shape = "constant", mean = 0.6 },
]
"#;

/// The validation instance's environment table without `kind` (for [`parse_table`]), with
/// `extra` keys appended.
fn validation_env(extra: &str) -> Tallying {
    let text = format!("{}\n{extra}", VALIDATION.replace("kind = \"tallying\"", ""));
    parse_table(&text.parse::<Table>().unwrap()).unwrap()
}

/// Mean regret per policy label of a spec.
fn mean_regrets(exp: &Experiment) -> Vec<(String, String, f64)> {
    let s = summarize(exp, &run_experiment(exp, &|_| {}));
    s.results.iter().map(|r| (r.env.clone(), r.policy.clone(), r.mean_regret)).collect()
}

fn regret_of(rows: &[(String, String, f64)], env: &str, policy: &str) -> f64 {
    rows.iter().find(|(e, p, _)| e == env && p == policy).unwrap().2
}

#[test]
fn the_oracle_finds_always_the_reo_arm_with_its_closed_form_loss() {
    // Every loss is at least f₀(W) = 0.1, and any sequence that ever reaches arm 0's full tally
    // pays its ramp 1, 0.964, 0.856, 0.676, 0.424 (sum 3.92) somewhere, so for long horizons
    // always-arm-0 is the unique optimum: 3.92 + 0.1 (T − 5) = 0.1 T + 3.42. For short ones
    // the constant arm 1 wins (0.3 T < 0.1 T + 3.42 while T ≤ 17).
    let env = validation_env("");
    assert_eq!(env.benchmark_kind(), Benchmark::BestSequence);
    for horizon in [18, 1000, 5000] {
        let plan = env.benchmark(horizon);
        let closed = 0.1 * horizon as f64 + 3.42;
        assert!((plan.total - closed).abs() < 1e-9, "T = {horizon}: {} vs {closed}", plan.total);
        assert!(plan.actions.iter().all(|&a| a == 0));
    }
    for horizon in [1, 5, 17] {
        let plan = env.benchmark(horizon);
        assert!((plan.total - 0.3 * horizon as f64).abs() < 1e-9, "T = {horizon}: {}", plan.total);
    }
}

#[test]
fn the_oracle_equals_brute_force_on_a_tiny_instance() {
    // K = 2, m = 2, T = 8: all 256 sequences. Arm 0 rots with exposure (0.1 fresh, 0.9 at a
    // full tally), arm 1 is a constant 0.4, weights favour the last step: the optimum mixes.
    let text = r#"
memory = 2
weights = [1.0, 0.5]
losses = [
  { shape = "power", at_zero = 0.1, at_full = 0.9, exponent = 2.0 },
  { shape = "constant", mean = 0.4 },
]
"#;
    let env = parse_table(&text.parse::<Table>().unwrap()).unwrap();
    let horizon = 8;
    let (brute, best) = (0..1u32 << horizon)
        .map(|code| {
            let seq: Vec<usize> = (0..horizon).map(|t| (code >> t) as usize & 1).collect();
            (env.expected_loss(&seq), seq)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let plan = env.benchmark(horizon as u64);
    assert!((plan.total - brute).abs() < 1e-12, "DP {} vs brute force {brute} ({best:?})", plan.total);
    let actions: Vec<usize> = plan.actions.iter().map(|&a| a as usize).collect();
    assert!((env.expected_loss(&actions) - brute).abs() < 1e-12);
    assert!(actions.contains(&0) && actions.contains(&1), "a mixed optimum was expected: {actions:?}");
}

#[test]
fn block_se_regret_is_nearly_flat_while_memory_blind_ucb1_grows_linearly() {
    // Three horizons, 5 seeds each. Reference runs (master seeds 1..=10): UCB1 regret at
    // T = 16 000 was 0.214–0.217 T (it settles on arm 1: 0.3 vs the oracle's 0.1 per step,
    // plus exploration), its ratio T = 16 000 / T = 2000 6.71–6.86; block-SE (M = 5) ratio
    // 1.15–1.42; block-SE M = 5 / M = 80 at T = 8000 0.32–0.39. The literature's table has
    // the same shape (UCB1 ≈ 0.2 T; block-SE 346 → 457 from T = 2000 to 32 000). Bounds leave
    // room around every reference value.
    let mut text = String::from("seeds = 5\nseed = 3\nhorizon = 2000\n");
    for (name, horizon) in [("t2000", 2000), ("t8000", 8000), ("t16000", 16000)] {
        text.push_str(&format!("[[env]]\nname = \"{name}\"\nhorizon = {horizon}\n{VALIDATION}\n"));
    }
    text.push_str(
        "[[policy]]\nname = \"ucb1\"\n[[policy]]\nname = \"block-se\"\nlabel = \"m5\"\nmemory_bound = 5\n\
         [[policy]]\nname = \"block-se\"\nlabel = \"m80\"\nmemory_bound = 80\n",
    );
    let exp = parse_spec(&text, "t").unwrap();
    let rows = mean_regrets(&exp);
    let ucb_slope = regret_of(&rows, "t16000", "ucb1") / 16000.0;
    assert!((0.2..0.23).contains(&ucb_slope), "UCB1 regret / T = {ucb_slope}");
    let ucb_ratio = regret_of(&rows, "t16000", "ucb1") / regret_of(&rows, "t2000", "ucb1");
    let se_ratio = regret_of(&rows, "t16000", "m5") / regret_of(&rows, "t2000", "m5");
    assert!(ucb_ratio > 6.0, "UCB1 grew only {ucb_ratio}× over an 8× longer horizon");
    assert!(se_ratio < 2.0, "block-SE grew {se_ratio}× over an 8× longer horizon");
    let (m5, m80) = (regret_of(&rows, "t8000", "m5"), regret_of(&rows, "t8000", "m80"));
    assert!(m5 < 0.6 * m80, "block-SE M = 5 {m5} vs M = 80 {m80}");
}

#[test]
fn reo_arm_benchmark_is_within_m_of_the_best_sequence() {
    // Always-a* pays at most m more than the best sequence (only its ramp can be beaten), and
    // never less. On short horizons the best sequence avoids the ramp altogether.
    let dp = validation_env("benchmark = \"best-sequence\"");
    let reo = validation_env("benchmark = \"reo-arm\"");
    assert_eq!(reo.reo_arm(), Some(0));
    for horizon in [3, 6, 17, 18, 100] {
        let gap = reo.benchmark(horizon).total - dp.benchmark(horizon).total;
        assert!((-1e-9..=5.0).contains(&gap), "T = {horizon}: reo − dp = {gap}");
    }
    assert!(reo.benchmark(6).total > dp.benchmark(6).total + 1.0);
}

#[test]
fn a_window_too_big_for_the_dp_falls_back_to_the_reo_arm_or_is_refused() {
    // K = 5, m = 9: 5^10 ≈ 9.8 M transitions, over the 2^20 cap.
    let big = VALIDATION.replace("memory = 5", "memory = 9");
    let text = format!("horizon = 400\nseeds = 2\n[[env]]\n{big}\n[[policy]]\nname = \"block-se\"\n");
    let exp = parse_spec(&text, "t").unwrap();
    assert!(exp.envs[0].regret_name().contains("repeated-exposure-optimal arm 0"), "{}", exp.envs[0].regret_name());
    for r in run_experiment(&exp, &|_| {}) {
        // Block-SE (M = 9) spends its first 4 × (9 + 2) steps on arms 1–4, 0.2–0.5 above 0.1.
        assert!(r.final_regret() > 0.0 && r.final_regret() < 400.0, "{}", r.final_regret());
    }
    // Without an REO arm the parser says how to fix it.
    let rotting = big.replace("at_zero = 1.0, at_full = 0.1", "at_zero = 0.1, at_full = 1.0");
    let err = parse_spec(&format!("horizon = 10\n[[env]]\n{rotting}\n[[policy]]\nname = \"ucb1\"\n"), "t").unwrap_err();
    assert_eq!(err.field, "env[0].memory");
    assert!(err.message.contains("shrink") && err.message.contains("1048576"), "{}", err.message);
}

#[test]
fn a_horizon_too_long_for_the_dp_is_refused_when_the_spec_is_read() {
    // 5^5 window states × 2 M steps ≈ 6.3e9 DP cells, above the 2^32 cap.
    let text = format!(
        "horizon = 2000000
[[env]]
{VALIDATION}
[[policy]]
name = \"ucb1\"\n"
    );
    let err = parse_spec(&text, "t").unwrap_err();
    assert_eq!(err.field, "policy[0]");
    assert!(err.message.contains("reo-arm") && err.message.contains("horizon"), "{}", err.message);
    // The REO benchmark has no such cost.
    parse_spec(&text.replace("memory = 5", "memory = 5\nbenchmark = \"reo-arm\""), "t").unwrap();
}

#[test]
fn bad_specs_name_the_key_and_the_fix() {
    let base = |env: &str, policy: &str| {
        format!("horizon = 10\n[[env]]\nkind = \"tallying\"\n{env}\n[[policy]]\nname = \"{policy}\"\n")
    };
    let two = "losses = [{ shape = \"constant\", mean = 0.3 }, { shape = \"constant\", mean = 0.5 }]";
    for (env, field, hint) in [
        (two.to_string(), "env[0].memory", "missing"),
        (format!("memory = 0\n{two}"), "env[0].memory", "≥ 1"),
        (format!("memory = 5000\n{two}"), "env[0].memory", "at most"),
        (format!("memory = 2\nweights = [1.0]\n{two}"), "env[0].weights", "memory = 2"),
        (format!("memory = 2\nweights = [1.0, -0.5]\n{two}"), "env[0].weights[1]", "≥ 0"),
        (format!("memory = 2\nweights = [0.0, 0.0]\n{two}"), "env[0].weights", "W > 0"),
        ("memory = 2".to_string(), "env[0].losses", "one table per arm"),
        ("memory = 2\nlosses = []".to_string(), "env[0].losses", "between 1"),
        ("memory = 2\nlosses = [0.3]".to_string(), "env[0].losses[0]", "must be a table"),
        ("memory = 2\nlosses = [{ mean = 0.3 }]".to_string(), "env[0].losses[0].shape", "missing"),
        ("memory = 2\nlosses = [{ shape = \"cubic\" }]".to_string(), "env[0].losses[0].shape", "constant, power"),
        (
            "memory = 2\nlosses = [{ shape = \"constant\", mean = 0.3 }, { shape = \"constant\", mean = 1.3 }]"
                .to_string(),
            "env[0].losses[1].mean",
            "[0, 1]",
        ),
        (
            "memory = 2\nlosses = [{ shape = \"constant\", mean = 0.3, at_full = 0.1 }]".to_string(),
            "env[0].losses[0].at_full",
            "unknown key",
        ),
        (
            "memory = 2\nlosses = [{ shape = \"power\", at_zero = 1.0, at_full = 0.1, exponent = 0 }]".to_string(),
            "env[0].losses[0].exponent",
            "positive",
        ),
        (
            "memory = 2\nlosses = [{ shape = \"power\", at_zero = 1.0 }]".to_string(),
            "env[0].losses[0].at_full",
            "missing",
        ),
        (
            "memory = 2\nlosses = [{ shape = \"table\", values = [0.5] }]".to_string(),
            "env[0].losses[0].values",
            "between 2",
        ),
        (
            "memory = 2\nlosses = [{ shape = \"table\", values = [0.5, -0.1] }]".to_string(),
            "env[0].losses[0].values[1]",
            "[0, 1]",
        ),
        (
            "memory = 2\nbenchmark = \"reo-arm\"\nlosses = [{ shape = \"power\", at_zero = 0.1, at_full = 0.9 }, \
             { shape = \"constant\", mean = 0.4 }]"
                .to_string(),
            "env[0].benchmark",
            "best-sequence",
        ),
        (format!("memory = 2\nbenchmark = \"oracle\"\n{two}"), "env[0].benchmark", "reo-arm"),
        (format!("memory = 2\narms = 3\n{two}"), "env[0].arms", "unknown key"),
    ] {
        let err = parse_spec(&base(&env, "ucb1"), "t").unwrap_err();
        assert_eq!(err.field, field, "{env}: {}", err.message);
        assert!(err.message.contains(hint), "{env}: {}", err.message);
    }
    // Policies: contextual ones are refused here, block-se is refused elsewhere.
    let err = parse_spec(&base(&format!("memory = 2\n{two}"), "linucb"), "t").unwrap_err();
    assert_eq!(err.field, "policy[0]");
    let classic = "horizon = 10\n[[env]]\nkind = \"bernoulli\"\nmeans = [0.2, 0.5]\n[[policy]]\nname = \"block-se\"\n";
    let err = parse_spec(classic, "t").unwrap_err();
    assert!(err.message.contains("tallying"), "{}", err.message);
}

#[test]
fn the_example_runs_round_trips_and_shows_the_targets() {
    let mut exp = parse_spec(include_str!("../../../examples/tallying.toml"), "tallying.toml").unwrap();
    let again = parse_spec(&to_toml(&exp), "again").unwrap();
    let ids = |e: &Experiment| {
        let envs = e.envs.iter().map(|x| (x.label.clone(), x.identity()));
        let pols = e.policies.iter().map(|p| (p.label.clone(), p.identity()));
        envs.chain(pols).collect::<Vec<_>>()
    };
    assert_eq!(ids(&exp), ids(&again));
    exp.seeds = 3;
    let recs = run_experiment(&exp, &|_| {});
    let s = summarize(&exp, &recs);
    for env in ["unweighted", "geometric"] {
        let rows: Vec<_> = s.results.iter().filter(|r| r.env == env).collect();
        let get = |p: &str| rows.iter().find(|r| r.policy == p).unwrap();
        // 20-seed runs of the example: UCB1 6680 ± 13, EXP3 6804 ± 14, block-SE M = 5 480 ± 38,
        // M = 80 1173 ± 44 (unweighted); the weighted instance within 3% of these.
        assert!(get("ucb1").mean_regret > 0.19 * 32000.0);
        assert!(get("exp3").mean_regret > 0.19 * 32000.0);
        assert!(get("block-se-M5").mean_regret < 0.15 * get("ucb1").mean_regret);
        assert!(get("block-se-M5").mean_regret < get("block-se-M80").mean_regret);
        assert!(get("block-se-M5").opt_frac > 0.9 && get("ucb1").opt_frac < 0.05);
        let names: Vec<&str> = get("block-se-M5").measures.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["switches", "settled-at"]);
        assert_eq!(get("ucb1").measures.len(), 1);
    }
}

#[test]
fn runs_are_reproducible_and_thread_count_free() {
    let mut exp = parse_spec(include_str!("../../../examples/tallying.toml"), "tallying.toml").unwrap();
    exp.horizon = 3000;
    exp.seeds = 3;
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let one = pool(1).install(|| run_experiment(&exp, &|_| {}));
    let many = run_experiment(&exp, &|_| {});
    assert_eq!(one, many);
    // A freshly parsed environment (empty benchmark cache) gives the same records.
    let fresh = parse_spec(include_str!("../../../examples/tallying.toml"), "tallying.toml").unwrap();
    let fresh = Experiment { horizon: 3000, seeds: 3, ..fresh };
    assert_eq!(one, run_experiment(&fresh, &|_| {}));
}

#[test]
fn every_policy_faces_the_same_loss_draws() {
    // With every arm a constant 0.5, step t's loss is 1{u_t < 0.5} whatever the action: common
    // random numbers make every policy's realised reward equal for a seed index.
    let text = "horizon = 500\nseeds = 4\n[[env]]\nkind = \"tallying\"\nmemory = 3\nlosses = [\
                { shape = \"constant\", mean = 0.5 }, { shape = \"constant\", mean = 0.5 }, \
                { shape = \"constant\", mean = 0.5 }]\n[[policy]]\nname = \"ucb1\"\n[[policy]]\nname = \"exp3\"\n\
                [[policy]]\nname = \"block-se\"\n[[policy]]\nname = \"random\"\n";
    let exp = parse_spec(text, "t").unwrap();
    let recs = run_experiment(&exp, &|_| {});
    for r in &recs {
        let first = recs.iter().find(|o| o.id.seed_index == r.id.seed_index).unwrap();
        assert_eq!(r.reward.to_bits(), first.reward.to_bits());
        assert!(r.final_regret().abs() < 1e-9);
    }
    assert_ne!(recs[0].reward, recs[1].reward);
}

/// A random small instance as an environment table (without `kind`).
fn instance() -> impl Strategy<Value = Table> {
    let curve = prop_oneof![
        (0.0..=1.0f64).prop_map(|mean| vec![("shape", Value::from("constant")), ("mean", Value::from(mean))]),
        (0.0..=1.0f64, 0.0..=1.0f64, 0.2..=4.0f64).prop_map(|(z, f, e)| vec![
            ("shape", Value::from("power")),
            ("at_zero", Value::from(z)),
            ("at_full", Value::from(f)),
            ("exponent", Value::from(e)),
        ]),
        prop::collection::vec(0.0..=1.0f64, 2..=4).prop_map(|v| vec![
            ("shape", Value::from("table")),
            ("values", Value::Array(v.into_iter().map(Value::from).collect())),
        ]),
    ];
    (1usize..=3, prop::collection::vec(curve, 1..=3), prop::collection::vec(0.05..=2.0f64, 3), any::<bool>()).prop_map(
        |(m, curves, weights, weighted)| {
            let mut t = Table::new();
            t.insert("memory".into(), Value::from(m as i64));
            if weighted {
                t.insert("weights".into(), Value::Array(weights[..m].iter().map(|&w| Value::from(w)).collect()));
            }
            let losses = curves
                .into_iter()
                .map(|kv| Value::Table(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
                .collect();
            t.insert("losses".into(), Value::Array(losses));
            t
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_oracle_is_the_minimum_over_all_sequences(table in instance(), horizon in 1usize..=6) {
        let env = parse_table(&table).unwrap();
        let k = env.curves().len();
        let brute = (0..k.pow(horizon as u32))
            .map(|mut code| {
                let seq: Vec<usize> = (0..horizon).map(|_| { let a = code % k; code /= k; a }).collect();
                env.expected_loss(&seq)
            })
            .fold(f64::INFINITY, f64::min);
        let plan = env.benchmark(horizon as u64);
        prop_assert!((plan.total - brute).abs() < 1e-12, "DP {} vs brute {brute}", plan.total);
        prop_assert_eq!(plan.actions.len(), horizon);
        prop_assert!(plan.actions.iter().all(|&a| (a as usize) < k));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_policy_beats_the_oracle(table in instance(), horizon in 1u64..=300, seed in 0u64..1000) {
        let mut env = table;
        env.insert("kind".into(), Value::from("tallying"));
        let mut doc = Table::new();
        doc.insert("horizon".into(), Value::from(horizon as i64));
        doc.insert("seeds".into(), Value::from(3));
        doc.insert("seed".into(), Value::from(seed as i64));
        doc.insert("env".into(), Value::Array(vec![Value::Table(env)]));
        let policies = ["ucb1", "exp3", "thompson", "random", "greedy", "successive-elimination", "block-se"];
        let policies = policies.iter().map(|p| {
            let mut t = Table::new();
            t.insert("name".into(), Value::from(*p));
            Value::Table(t)
        });
        doc.insert("policy".into(), Value::Array(policies.collect()));
        let exp = parse_spec(&toml::to_string(&doc).unwrap(), "prop").unwrap();
        for r in run_experiment(&exp, &|_| {}) {
            // Regret = policy's expected loss − the minimum over all sequences ≥ 0, exactly
            // (up to rounding in the sums).
            prop_assert!(r.final_regret() > -1e-9, "{}: {}", exp.policies[r.id.policy].label, r.final_regret());
            prop_assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), horizon);
        }
    }
}
