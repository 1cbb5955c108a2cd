//! Piecewise-stationary bandits: the environment, its dynamic regret, and the policies that
//! forget (sliding-window UCB, discounted UCB, discounted Thompson sampling) or detect changes
//! (CUSUM-UCB, GLR-klUCB).

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

/// Arm 0 falls from 0.9 to 0.1 halfway through T = 20 000; arm 1 (0.5) is then the best.
fn large_change_spec(seed: u64) -> String {
    format!(
        "horizon = 20000\nseeds = 20\nseed = {seed}\n[[env]]\nkind = \"piecewise\"\n\
         segments = [[0.9, 0.5, 0.3], [0.1, 0.5, 0.3]]\nchange_points = [10000]\n\
         [[policy]]\nname = \"glr-klucb\"\n[[policy]]\nname = \"cusum-ucb\"\n[[policy]]\nname = \"kl-ucb\"\n"
    )
}

#[test]
fn glr_klucb_restarts_after_a_large_change() {
    let exp = parse_spec(&large_change_spec(1), "large.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let regret = |p: &str| summary.results.iter().find(|r| r.policy == p).unwrap().mean_regret;
    let (glr, cusum, klucb) = (regret("glr-klucb"), regret("cusum-ucb"), regret("kl-ucb"));
    // kl-UCB must unlearn ~10 000 pulls of the old best arm; GLR-klUCB forgets them as soon as
    // it detects the change. Reference runs (master seeds 1..=10, 20 seeds each): GLR-klUCB
    // 88.5–98.0, CUSUM-UCB 207.0–222.7, kl-UCB 3340–3393; the largest ratios were 0.029 to
    // kl-UCB and 0.446 to CUSUM-UCB. The bounds leave a margin above every reference ratio.
    assert!(glr < 0.1 * klucb, "glr-klucb {glr} vs kl-ucb {klucb}");
    assert!(glr < 0.7 * cusum, "glr-klucb {glr} vs cusum-ucb {cusum}");
}

/// Plays GLR-klUCB on Bernoulli arms whose means switch from `before` to `after` at step
/// `change` (never, if `change >= horizon`). Returns the alarms raised before the change and
/// the delay, in steps, of the first alarm after it.
fn glr_alarms(
    cfg: armada::policy::GlrConfig,
    (before, after, change): (&[f64], &[f64], u64),
    horizon: u64,
    seed: u64,
) -> (u64, Option<u64>) {
    use armada::env::RewardModel;
    use armada::policy::{BanditInfo, GlrKlUcb, Policy};
    use armada::rng::{Role, stream, uniform};
    let info = BanditInfo { arms: before.len(), horizon, reward_model: &RewardModel::Bernoulli };
    let mut policy = GlrKlUcb::new(&info, cfg);
    let mut rewards = stream(seed, Role::Reward, &["glr-alarms"], 0);
    let mut rng = stream(seed, Role::Policy, &["glr-alarms"], 0);
    let mut early = 0;
    for t in 0..horizon {
        let means = if t < change { before } else { after };
        let arm = policy.select(&mut rng);
        let r = if uniform(&mut rewards) < means[arm] { 1.0 } else { 0.0 };
        let alarms = policy.restarts();
        policy.update(arm, r, &mut rng);
        if policy.restarts() > alarms {
            if t < change {
                early += 1;
            } else {
                return (early, Some(t + 1 - change));
            }
        }
    }
    (early, None)
}

#[test]
fn glr_klucb_detects_a_large_change_within_a_few_dozen_steps() {
    // Arm 0 (0.9, about 9 900 samples before the change) falls to 0.1 at step 10 000 and
    // keeps being played. The GLR statistic at the change grows by kl(0.1, 0.9) = 1.76 per
    // post-change sample, and β(n ≈ 10⁴, δ = 1/√(2·10⁴)) = 55.7, so about 32 samples are
    // needed, plus up to 10 for the test's period Δn and some for the split grid Δs; even if
    // every post-change reward is 0 (kl(0, 0.9) = ln 10 per sample) it takes 55.7 / 2.3 ≈ 24.
    // Reference runs (100 seeds): no alarm before the change; delays 29–56 steps, mean 39.4.
    let mut delays = Vec::new();
    for seed in 0..50 {
        let (early, delay) = glr_alarms(
            armada::policy::GlrConfig::default(),
            (&[0.9, 0.5, 0.3], &[0.1, 0.5, 0.3], 10_000),
            20_000,
            seed,
        );
        assert_eq!(early, 0, "seed {seed}: false alarm before the change");
        delays.push(delay.unwrap_or_else(|| panic!("seed {seed}: no alarm after the change")));
    }
    assert!(delays.iter().all(|&d| (24..=80).contains(&d)), "{delays:?}");
}

#[test]
fn glr_klucb_raises_no_false_alarm_on_a_stationary_instance() {
    // The theory threshold bounds the probability of any false alarm on one arm's i.i.d.
    // samples by δ = 1/√T (the paper's false-alarm lemma; testing fewer (n, s) pairs keeps the
    // bound), so a run of 3 arms raises one with probability at most 3δ = 0.021, and 200 runs
    // have 4.2 such runs in expectation; 12 or more would have probability 0.13 % even at that
    // bound (binomial tail). The threshold is conservative: reference runs (600 seeds) raised
    // no alarm at all, and neither did the simple threshold ln(3n√n/δ) on the same runs.
    let runs = 200;
    let runs_with_alarms: u64 = (0..runs)
        .map(|seed| {
            let (early, _) = glr_alarms(
                armada::policy::GlrConfig::default(),
                (&[0.7, 0.5, 0.3], &[0.7, 0.5, 0.3], u64::MAX),
                20_000,
                1000 + seed,
            );
            u64::from(early > 0)
        })
        .sum();
    assert!(runs_with_alarms < 12, "false alarms in {runs_with_alarms} of {runs} runs");
}

#[test]
fn glr_klucb_is_deterministic_given_the_seed() {
    let exp = parse_spec(&large_change_spec(7), "large.toml").unwrap();
    let (a, b) = (run_experiment(&exp, &|_| {}), run_experiment(&exp, &|_| {}));
    assert_eq!(a, b);
    let other = parse_spec(&large_change_spec(8), "large.toml").unwrap();
    assert_ne!(a[0].regret, run_experiment(&other, &|_| {})[0].regret);
}

#[test]
fn glr_klucb_registry_entry_builds_and_round_trips() {
    use armada::spec::to_toml;
    let text = "horizon = 1000\nseeds = 2\n[[env]]\nkind = \"piecewise\"\nsegments = [[0.2, 0.8]]\n\
                [[policy]]\nname = \"glr-klucb\"\n[[policy]]\nname = \"glr-klucb\"\nlabel = \"tuned\"\n\
                restart = \"local\"\nchanges = 3\nalpha = 0.05\ndelta = 0.01\nthreshold = \"simple\"\n\
                exploration = \"random\"\ncheck_every = 5\nsplit_every = 2\nc = 0\n";
    let exp = parse_spec(text, "glr.toml").unwrap();
    assert_eq!(
        exp.policies[0].identity(),
        "glr-klucb(restart=global,changes=auto,alpha=auto,alpha0=0.1,delta=auto,threshold=theory,\
         exploration=deterministic,check_every=10,split_every=10,c=3)"
    );
    assert_eq!(
        exp.policies[1].identity(),
        "glr-klucb(restart=local,changes=3,alpha=0.05,alpha0=0.1,delta=0.01,threshold=simple,\
         exploration=random,check_every=5,split_every=2,c=0)"
    );
    let written = to_toml(&exp);
    let again = parse_spec(&written, "again.toml").unwrap();
    assert_eq!(to_toml(&again), written);
    assert_eq!(again.policies[1].identity(), exp.policies[1].identity());
    for r in run_experiment(&again, &|_| {}) {
        assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), 1000);
    }
    for (bad, field) in [
        ("restart = \"sometimes\"", "policy[0].restart"),
        ("check_every = 0", "policy[0].check_every"),
        ("delta = 0", "policy[0].delta"),
        ("threshold = \"loose\"", "policy[0].threshold"),
    ] {
        let text = format!(
            "horizon = 10\n[[env]]\nkind = \"piecewise\"\nsegments = [[0.2, 0.8]]\n[[policy]]\nname = \"glr-klucb\"\n{bad}\n"
        );
        let err = parse_spec(&text, "bad.toml").unwrap_err();
        assert_eq!(err.field, field, "{bad}: {err}");
    }
}

/// The numbers of docs/nonstationary.md's example table: mean dynamic regret ± 95 % CI
/// half-width over the example's 50 seeds. Slow (about a minute on two cores): run with
/// `cargo test -p armada --release --test nonstationary example_numbers -- --ignored --nocapture`.
#[test]
#[ignore]
fn example_numbers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/nonstationary.toml");
    let exp = parse_spec(&std::fs::read_to_string(path).unwrap(), "nonstationary.toml").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    for r in &summary.results {
        let ci = r.ci95_regret.unwrap_or(f64::NAN);
        eprintln!("{:22} {:22} {:9.1} ± {ci:6.1} (sd {:.1})", r.env, r.policy, r.mean_regret, r.std_regret);
    }
}
