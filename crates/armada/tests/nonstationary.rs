//! Piecewise-stationary bandits: the environment, its dynamic regret, and the policies that
//! forget (sliding-window UCB, discounted UCB, discounted Thompson sampling).

use armada::harness::run_experiment;
use armada::spec::parse_spec;
use armada::summary::summarize;

/// One Gaussian change: arm 0 is best until step 10 000, then arm 4.
const SPEC: &str = r#"
name = "ns"
horizon = 20000
seeds = 20
seed = 5
[[env]]
kind = "piecewise"
reward = "gaussian"
sigma = 1.0
segments = [[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]]
change_points = [10000]
[[policy]]
name = "sw-ucb"
[[policy]]
name = "discounted-ucb"
[[policy]]
name = "discounted-thompson"
[[policy]]
name = "cusum-ucb"
[[policy]]
name = "thompson"
[[policy]]
name = "random"
"#;

#[test]
fn forgetting_policies_recover_from_a_change_that_stationary_thompson_does_not() {
    let exp = parse_spec(SPEC, "ns.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let regret = |p: &str| summary.results.iter().find(|r| r.policy == p).unwrap().mean_regret;
    // Uniform play pays 0.8 per step exactly in expectation (4 of 5 arms have gap 1).
    assert!((regret("random") - 16_000.0).abs() < 300.0, "random {}", regret("random"));
    // Reference runs (master seeds 1..=10, 20 seeds each): Thompson 3472–4810 (it must unlearn
    // 10 000 pulls of the old best arm), sw-ucb 549–771, cusum-ucb 508–638, discounted-thompson
    // 1422–1476, discounted-ucb 1745–1802; the largest ratio to Thompson was 0.51
    // (discounted-ucb), random 15 988–16 025. The bound 0.7 leaves a margin above every
    // reference ratio.
    for p in ["sw-ucb", "cusum-ucb", "discounted-ucb", "discounted-thompson"] {
        assert!(regret(p) < 0.7 * regret("thompson"), "{p}: {} vs thompson {}", regret(p), regret("thompson"));
    }
    let env = &summary.environments[0];
    assert!(env.nonstationary && env.means.is_none());
}

#[test]
fn dynamic_regret_follows_the_segments() {
    // A policy that always plays arm 0 (greedy on a world where arm 0 is found first and
    // never looks worse): regret 0 in the first segment, then the second segment's gap per step.
    let text = r#"
horizon = 3000
seeds = 3
[[env]]
kind = "piecewise"
segments = [[1.0, 0.0], [0.0, 1.0]]
change_points = [1000]
[[policy]]
name = "explore-then-commit"
m = 1
"#;
    let exp = parse_spec(text, "dyn.toml").unwrap();
    for r in run_experiment(&exp, &|_| {}) {
        // Explore-then-commit with m = 1 pulls arms 0 and 1 once (regret 1 at step 2), then
        // commits to arm 0 (reward 1 vs 0): 998 regret-free steps, then 2000 steps of gap 1.
        assert_eq!(r.final_regret(), 1.0 + 2000.0);
        assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), 3000);
    }
}

#[test]
fn bad_piecewise_specs_name_the_field() {
    let base = |env: &str| format!("horizon = 10\n[[env]]\nkind = \"piecewise\"\n{env}\n[[policy]]\nname = \"ucb\"\n");
    for (env, field, hint) in [
        ("segments = [[0.5, 0.6], [0.1, 0.2]]", "env[0].change_points", "required"),
        ("segments = [[0.5, 0.6], [0.1, 0.2]]\nchange_points = [5, 7]", "env[0].change_points", "one fewer"),
        ("segments = [[0.5, 0.6], [0.1]]\nchange_points = [5]", "env[0].segments[1]", "every segment"),
        ("segments = [[0.5, 1.6]]", "env[0].segments[0][1]", "[0, 1]"),
        (
            "segments = [[0.5, 0.6], [0.1, 0.2], [0.3, 0.3]]\nchange_points = [5, 5]",
            "env[0].change_points[1]",
            "larger",
        ),
        ("segments = [[0.5, 0.6]]\nreward = \"gaussian\"", "env[0].sigma", "required"),
        ("segments = [[0.5, 0.6]]\nmeans = [0.1, 0.2]", "env[0].means", "piecewise"),
    ] {
        let err = parse_spec(&base(env), "bad.toml").unwrap_err();
        assert_eq!(err.field, field, "{env}: {err}");
        assert!(err.message.contains(hint), "{env}: {err}");
    }
}

/// A reward table (an oblivious adversary): the better arm alternates every 500 steps, means
/// (0.6, 0.4) then (0.3, 0.7). Regret against the best fixed arm in hindsight.
fn alternating_table(policies: &[&str]) -> String {
    let segments: Vec<String> =
        (0..20).map(|j| if j % 2 == 0 { "[0.6, 0.4]".to_string() } else { "[0.3, 0.7]".to_string() }).collect();
    let change_points: Vec<String> = (1..20).map(|j| (500 * j).to_string()).collect();
    let mut text = format!(
        "horizon = 10000\nseeds = 30\nseed = 9\n[[env]]\nkind = \"piecewise\"\nreward = \"deterministic\"\n\
         regret = \"fixed-arm\"\nsegments = [{}]\nchange_points = [{}]\n",
        segments.join(", "),
        change_points.join(", ")
    );
    for p in policies {
        text.push_str(&format!("[[policy]]\nname = \"{p}\"\n"));
    }
    text
}

#[test]
fn adversarial_policies_stay_below_their_bound_on_a_reward_table() {
    let exp = parse_spec(&alternating_table(&["exp3", "exp3-ix", "tsallis-inf"]), "table.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    // Auer et al.'s bound on EXP3's expected regret against the best fixed arm: √(2 T K ln K)
    // = 166.5 for T = 10 000, K = 2. Reference runs (master seeds 1..=10, 30 seeds each): mean
    // regret exp3 88–100, exp3-ix 102–117, tsallis-inf 35–92, all well below the bound.
    let bound = (2.0 * 10_000.0 * 2.0 * 2f64.ln()).sqrt();
    for row in &summary.results {
        assert!(row.mean_regret < bound, "{}: {} vs bound {bound}", row.policy, row.mean_regret);
    }
}

#[test]
fn fixed_arm_regret_is_against_the_best_arm_in_hindsight() {
    // Arm 0 pays 1 until step 4000, then arm 1 pays 1. Explore-then-commit with m = 1 plays
    // arm 0 (1), arm 1 (0), then arm 0 for good: it collects 3999. The best fixed arm so far is
    // arm 0 (4000) at t = 4000 and arm 1 (6000) at t = 10 000.
    let text = "horizon = 10000\nseeds = 2\ncheckpoints = 2\n[[env]]\nkind = \"piecewise\"\nreward = \"deterministic\"\n\
                regret = \"fixed-arm\"\nsegments = [[1.0, 0.0], [0.0, 1.0]]\nchange_points = [4000]\n\
                [[policy]]\nname = \"explore-then-commit\"\nm = 1\n";
    let exp = parse_spec(text, "fixed.toml").unwrap();
    let cps = exp.checkpoints_of(0);
    for r in run_experiment(&exp, &|_| {}) {
        assert_eq!(*cps.last().unwrap(), 10_000);
        assert_eq!(r.final_regret(), 6000.0 - 3999.0);
        assert_eq!(r.reward, 3999.0);
    }
}

#[test]
fn forgetting_policies_track_drifting_means() {
    let text = "horizon = 10000\nseeds = 20\nseed = 3\n[[env]]\nkind = \"drifting\"\narms = 3\nperiod = 4000\n\
                [[policy]]\nname = \"sw-ucb\"\n[[policy]]\nname = \"discounted-thompson\"\n\
                [[policy]]\nname = \"thompson\"\n[[policy]]\nname = \"random\"\n";
    let exp = parse_spec(text, "drift.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let regret = |p: &str| summary.results.iter().find(|r| r.policy == p).unwrap().mean_regret;
    // Reference runs (master seeds 1..=8, 20 seeds each): sw-ucb 233–248, discounted-thompson
    // 321–361, thompson 1752–1966, random 3268–3286; the largest ratio to Thompson was 0.19.
    for p in ["sw-ucb", "discounted-thompson"] {
        assert!(regret(p) < 0.4 * regret("thompson"), "{p}: {} vs thompson {}", regret(p), regret("thompson"));
    }
    assert!(regret("thompson") < regret("random"));
    // Three arms whose means average 0.5 over a cycle, best mean 0.5 + 0.4·max of three shifted
    // sines: random's dynamic regret is T · E[max − mean] > 0.
    assert!(summary.environments[0].nonstationary);
}

#[test]
fn bad_drifting_specs_name_the_field() {
    let base = |env: &str| format!("horizon = 10\n[[env]]\nkind = \"drifting\"\n{env}\n[[policy]]\nname = \"ucb\"\n");
    for (env, field) in [
        ("period = 100", "env[0].arms"),
        ("arms = 3", "env[0].period"),
        ("arms = 3\nperiod = 100\namplitude = 0.6", "env[0].amplitude"),
        ("arms = 3\nperiod = 100\nregret = \"static\"", "env[0].regret"),
        ("arms = 3\nperiod = 100\nsegments = [[0.1, 0.2]]", "env[0].segments"),
    ] {
        let err = parse_spec(&base(env), "bad.toml").unwrap_err();
        assert_eq!(err.field, field, "{env}: {err}");
    }
}

/// A reward table built against UCB(α = 0.5): simulate UCB on the table as it is written, and
/// at each step let the arm it is about to pull pay little (0.1 for arm 0, 0.2 for arm 1: the
/// two means stay distinct, so UCB's indices never tie and its choices are deterministic)
/// while the other arm pays 1. The table is fixed before any policy runs (an oblivious
/// adversary), yet UCB, replaying the same choices, collects about 0.15 per step while either
/// arm alone collects more than half of T.
fn table_against_ucb(horizon: u64) -> armada::env::piecewise::Piecewise {
    use armada::env::RewardModel;
    use armada::policy::{BanditInfo, Policy, Ucb};
    let info = BanditInfo { arms: 2, horizon, reward_model: &RewardModel::Bernoulli };
    let mut ucb = Ucb::new(&info, 0.5);
    let mut rng = armada::rng::stream(0, armada::rng::Role::Policy, &["construction"], 0);
    let mut segments = Vec::with_capacity(horizon as usize);
    for _ in 0..horizon {
        let arm = ucb.select(&mut rng);
        let low = if arm == 0 { 0.1 } else { 0.2 };
        let mut row = vec![1.0, 1.0];
        row[arm] = low;
        ucb.update(arm, low, &mut rng);
        segments.push(row);
    }
    armada::env::piecewise::Piecewise {
        change_points: (1..horizon).collect(),
        segments,
        reward: armada::env::piecewise::PiecewiseReward::Deterministic,
        regret: armada::env::piecewise::RegretNotion::FixedArm,
    }
}

#[test]
fn a_table_built_against_ucb_defeats_it_but_not_the_adversarial_policies() {
    use armada::env::{EnvKind, EnvSpec};
    use armada::policy::{PolicySpec, find_policy};
    let horizon = 10_000;
    let kind = EnvKind::Piecewise(table_against_ucb(horizon));
    let exp = armada::harness::Experiment {
        name: "against-ucb".into(),
        horizon,
        seeds: 20,
        seed: 4,
        checkpoints: 10,
        envs: vec![EnvSpec { label: "against-ucb".into(), ..EnvSpec::new(kind) }],
        policies: ["ucb", "exp3", "hedge"]
            .iter()
            .map(|n| {
                let mut p = PolicySpec::with_defaults(find_policy(n).unwrap());
                if *n == "ucb" {
                    p.params[0] = armada::policy::ParamValue::Float(0.5);
                }
                p
            })
            .collect(),
    };
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let regret = |p: &str| summary.results.iter().find(|r| r.policy == p).unwrap().mean_regret;
    // UCB replays the choices the table was built against: it collects 0.1 or 0.2 per step,
    // while the better fixed arm collects at least T/2 · (1 + 0.1): regret above 0.35 T.
    assert!(regret("ucb") > 0.35 * horizon as f64, "ucb {}", regret("ucb"));
    // The adversarial policies keep their guarantees against the best fixed arm:
    // EXP3 ≤ √(2 T K ln K) = 166.5 and Hedge (full information) ≤ √(T ln K / 2) = 58.9.
    // Reference runs (master seeds 4, 5, 6; 20 seeds each): UCB 7751.2 every time (it replays
    // the construction exactly), EXP3 85.5–86.8, Hedge 28.2–31.9.
    let k = 2f64;
    assert!(regret("exp3") < (2.0 * horizon as f64 * k * k.ln()).sqrt(), "exp3 {}", regret("exp3"));
    assert!(regret("hedge") < (horizon as f64 * k.ln() / 2.0).sqrt(), "hedge {}", regret("hedge"));
}

#[test]
fn hedge_learns_from_every_arm_and_is_refused_on_contextual_environments() {
    // The switch of `alternating_table`-style tables, once: arm 0 pays 1 until step 3000, then
    // arm 1. Hedge sees both arms every step, so its regret against the best fixed arm stays
    // within √(T ln K / 2) = 58.9 (reference runs: 32.3 ± 3.6 over 30 seeds).
    let text = "horizon = 10000\nseeds = 30\nseed = 9\n[[env]]\nkind = \"piecewise\"\nreward = \"deterministic\"\n\
                regret = \"fixed-arm\"\nsegments = [[1.0, 0.0], [0.0, 1.0]]\nchange_points = [3000]\n\
                [[policy]]\nname = \"hedge\"\n";
    let exp = parse_spec(text, "switch.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let bound = (10_000f64 * 2f64.ln() / 2.0).sqrt();
    assert!(summary.results[0].mean_regret < bound, "{} vs {bound}", summary.results[0].mean_regret);
    let contextual = "horizon = 10\n[[env]]\nkind = \"linear\"\narms = 3\nfeatures = 2\n[[policy]]\nname = \"hedge\"\n";
    let err = parse_spec(contextual, "c.toml").unwrap_err();
    assert_eq!(err.field, "policy[0]");
    assert!(err.message.contains("every arm's reward"), "{err}");
}
