//! Recharging bandits: the exact DP benchmark against brute force, the LP relaxation against
//! its dual and the DP, the planners' guarantees (LP rounding ≥ (1 − 1/e)·LP, greedy's constant
//! loss on a big slow arm), explore-then-commit's vanishing regret per round, the spec layer,
//! reproducibility, and the example spec.

use armada::family::recharging::Recharging;
use armada::family::{FamilyEnv, FamilyRun, Outcome};
use armada::harness::run_experiment;
use armada::policy::{ParamValue, PolicySpec, find_policy};
use armada::rng::{self, Role};
use armada::spec::{parse_spec, to_toml};
use armada::summary::summarize;
use proptest::prelude::*;

/// One run of `policy` (parameters at their defaults unless `samples` is given) on `env`.
fn run_with(env: &Recharging, policy: &str, samples: Option<u64>, horizon: u64, seed_index: u64) -> Outcome {
    let mut spec = PolicySpec::with_defaults(find_policy(policy).unwrap());
    if let Some(m) = samples {
        spec.params[0] = ParamValue::Count(m);
    }
    let id = spec.identity();
    let checkpoints = [horizon];
    let run = FamilyRun {
        master_seed: 7,
        env_id: "recharging-test",
        policy_id: &id,
        seed_index,
        horizon,
        checkpoints: &checkpoints,
    };
    env.run(&spec, &run)
}

fn run_one(env: &Recharging, policy: &str, horizon: u64, seed_index: u64) -> Outcome {
    run_with(env, policy, None, horizon, seed_index)
}

fn measure(o: &Outcome, name: &str) -> f64 {
    o.measures.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no measure {name}")).value
}

/// Mean and standard error of a measure over seeds 0..n.
fn mean_se(n: u64, f: impl Fn(u64) -> f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..n).map(f).collect();
    let m = xs.iter().sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1).max(1) as f64;
    (m, (var / n as f64).sqrt())
}

/// Monotone payoff rows drawn from a fixed stream: sorted uniforms.
fn random_rows(seed: u64, arms: usize, max_delay: usize) -> Vec<Vec<f64>> {
    let mut s = rng::stream(seed, Role::Instance, &["rows"], 0);
    (0..arms)
        .map(|_| {
            let mut row: Vec<f64> = (0..max_delay).map(|_| rng::uniform(&mut s)).collect();
            row.sort_by(f64::total_cmp);
            row
        })
        .collect()
}

/// The best expected total over every action sequence, by enumeration, with the dynamics
/// written out again here (not the crate's graph): τ starts at max_delay, the played arm's τ
/// becomes 1, the others grow by one up to max_delay.
fn brute_force(rows: &[Vec<f64>], horizon: u32) -> f64 {
    let (k, d) = (rows.len(), rows[0].len());
    (0..k.pow(horizon))
        .map(|code| {
            let (mut tau, mut c, mut total) = (vec![d; k], code, 0.0);
            for _ in 0..horizon {
                let a = c % k;
                c /= k;
                total += rows[a][tau[a] - 1];
                for (i, t) in tau.iter_mut().enumerate() {
                    *t = if i == a { 1 } else { (*t + 1).min(d) };
                }
            }
            total
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The LP's dual, minimised exactly: min over λ ≥ 0 of λ + Σ_i max(0, max_d (p_i(d) − λ)/d), a
/// convex piecewise-linear function whose minimum sits at a breakpoint in [0, 1].
fn lp_dual(rows: &[Vec<f64>]) -> f64 {
    let f = |l: f64| {
        l + rows
            .iter()
            .map(|r| r.iter().enumerate().map(|(j, p)| (p - l) / (j + 1) as f64).fold(0.0, f64::max))
            .sum::<f64>()
    };
    let mut candidates = vec![0.0, 1.0];
    for r in rows {
        for (j, &p) in r.iter().enumerate() {
            candidates.push(p);
            for (jj, &q) in r.iter().enumerate().skip(j + 1) {
                let (d, dd) = ((j + 1) as f64, (jj + 1) as f64);
                candidates.push((dd * p - d * q) / (dd - d));
            }
        }
    }
    candidates.into_iter().filter(|l| (0.0..=1.0).contains(l)).map(f).fold(f64::INFINITY, f64::min)
}

/// One big slow-recharging arm (p(τ) = 1 − e^{−τ/8}) and three small fast ones (≈ 0.1 at any
/// delay): greedy replays the big arm as soon as it pays more than 0.1, i.e. every round at
/// τ = 1 (0.118), while the optimum lets it recharge to τ = 4 (0.393) and plays the small arms
/// in between: 0.173 per round.
fn big_slow_vs_small_fast() -> Recharging {
    Recharging::from_curves(vec![1.0, 0.1, 0.1, 0.1], vec![8.0, 0.2, 0.2, 0.2], 4).unwrap()
}

/// Four arms of the test family p_i(τ) = b_i(1 − e^{−τ/r_i}) with τ_max = 6.
fn four_curves() -> Recharging {
    Recharging::from_curves(vec![0.9, 0.7, 0.5, 0.4], vec![4.0, 2.0, 1.0, 0.5], 6).unwrap()
}

#[test]
fn dp_value_equals_brute_force_on_tiny_instances() {
    for (seed, k, d, horizon) in
        [(1, 1, 3, 7), (2, 2, 1, 8), (3, 2, 2, 9), (4, 2, 3, 10), (5, 3, 2, 7), (6, 3, 3, 7), (7, 3, 4, 6)]
    {
        let rows = random_rows(seed, k, d);
        let env = Recharging::from_table(rows.clone()).unwrap();
        for t in 1..=horizon {
            let (dp, bf) = (env.optimal_value(t as u64).unwrap(), brute_force(&rows, t));
            assert!((dp - bf).abs() < 1e-12, "k={k} d={d} T={t}: dp {dp} vs brute force {bf}");
        }
    }
}

#[test]
fn lp_matches_its_dual_and_bounds_the_dp() {
    let mut instances: Vec<Recharging> =
        (0..6).map(|s| Recharging::from_table(random_rows(100 + s, 3, 5)).unwrap()).collect();
    instances.push(big_slow_vs_small_fast());
    instances.push(four_curves());
    for env in &instances {
        let lp = env.lp().value;
        let dual = lp_dual(&env.payoffs().rows());
        // microlp's feasibility tolerance is 1e-7 (its docs); the dual is exact up to round-off.
        assert!((lp - dual).abs() < 1e-7, "LP {lp} vs dual {dual}");
        for t in [1, 10, 100, 3000] {
            let v = env.optimal_value(t).unwrap();
            assert!(v <= env.lp().bound(t) + 1e-9, "T={t}: DP {v} above (T + tau_max - 1) LP {}", env.lp().bound(t));
        }
        // The long-run optimum, DP/T at T = 3000, is at most LP (up to the start-state term).
        let d = env.payoffs().max_delay() as f64;
        assert!(env.optimal_value(3000).unwrap() / 3000.0 <= lp * (1.0 + (d - 1.0) / 3000.0) + 1e-12);
    }
    // On the greedy trap the LP is nearly tight: measured DP/T = 0.17341 at T = 5000, LP = 0.17337.
    let trap = big_slow_vs_small_fast();
    assert!((trap.optimal_value(3000).unwrap() / 3000.0 - trap.lp().value).abs() < 1e-3);
}

#[test]
fn the_optimal_planner_has_zero_regret_and_full_opt_frac() {
    for env in [big_slow_vs_small_fast(), four_curves()] {
        for seed in 0..3 {
            let o = run_one(&env, "recharging-optimal", 2000, seed);
            // It follows the benchmark's own plan, so the two sums are the same additions.
            assert_eq!(o.regret.last(), Some(&0.0));
            assert_eq!(o.opt_frac.last(), Some(&1.0));
            assert_eq!(measure(&o, "exact-benchmark"), 1.0);
        }
    }
}

#[test]
fn lp_rounding_earns_at_least_one_minus_one_over_e_of_the_lp() {
    let bound = 1.0 - (-1.0f64).exp();
    // Eight identical arms paying 1 only when fully recharged (τ = 8): the LP cycles every arm
    // with gap 8, total request rate 1, the case where contention hurts most. Each round has a
    // request with probability 1 − (7/8)^8 = 0.656; measured over these 40 seeds: 0.780 ± 0.010
    // (standard error; filled idle rounds add to the served requests).
    let step = Recharging::from_table(vec![[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0].to_vec(); 8]).unwrap();
    let (m, se) = mean_se(40, |s| measure(&run_one(&step, "recharging-lp", 4000, s), "ratio-to-lp"));
    assert!(m - 3.0 * se > bound, "step arms: {m} ± {se}");
    // Concave curves, measured over these 20 seeds: 0.968 ± 0.003 (four curves), 0.977 ± 0.008
    // (greedy trap).
    for env in [four_curves(), big_slow_vs_small_fast()] {
        let (m, se) = mean_se(20, |s| measure(&run_one(&env, "recharging-lp", 4000, s), "ratio-to-lp"));
        assert!(m - 3.0 * se > bound, "{env:?}: {m} ± {se}");
        assert!(m > 0.9, "concave payoffs: {m}");
    }
}

#[test]
fn greedy_loses_a_constant_factor_to_a_big_slow_arm() {
    let env = big_slow_vs_small_fast();
    // Greedy's choices here have no ties (the small arms never beat the big one), so its
    // expected reward is the same on every seed: 0.1175 per round against the optimum's 0.1734,
    // a factor 0.678 at every horizon.
    for t in [1000, 10_000] {
        let greedy = measure(&run_one(&env, "recharging-greedy", t, 0), "ratio-to-benchmark");
        let lp = measure(&run_one(&env, "recharging-lp", t, 0), "ratio-to-benchmark");
        assert!((greedy - 0.678).abs() < 0.005, "T={t}: greedy reaches {greedy} of the optimum");
        assert!(lp > 0.95, "T={t}: LP rounding reaches {lp}");
    }
}

#[test]
fn explore_then_commit_regret_per_round_shrinks() {
    // auto exploration is ∝ T^{2/3}, so regret/T should fall like T^{-1/3} (a factor 0.46 from
    // T = 2000 to 20 000). Measured over these 6 seeds: 0.039 → 0.0195 on four curves (0.50),
    // 0.019 → 0.011 on the greedy trap (0.60, standard errors 0.002); 0.8 leaves room for both.
    for env in [four_curves(), big_slow_vs_small_fast()] {
        let per_round =
            |t: u64| mean_se(6, |s| run_one(&env, "recharging-etc", t, s).regret.last().unwrap() / t as f64).0;
        let (short, long) = (per_round(2000), per_round(20_000));
        assert!(long < 0.8 * short, "regret/T {short} at T = 2000, {long} at T = 20 000");
        assert!(long < 0.03, "{long}");
    }
}

#[test]
fn the_lp_benchmark_takes_over_beyond_the_dp() {
    // Eight step arms with τ_max = 8 reach 1 + Σ_j C(8, j)·j·(6)_{j−1} = 301 065 τ-states,
    // above the DP's cap of 2^17.
    let step = Recharging::from_table(vec![[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0].to_vec(); 8]).unwrap();
    assert!(step.dp_states().is_none());
    assert!(step.regret_name().contains("LP upper bound"), "{}", step.regret_name());
    assert!(step.accepts(find_policy("recharging-optimal").unwrap()).is_err());
    for p in ["recharging-greedy", "recharging-lp", "ucb1"] {
        let o = run_one(&step, p, 3000, 0);
        assert_eq!(measure(&o, "exact-benchmark"), 0.0);
        assert!(*o.regret.last().unwrap() >= 0.0, "{p}: the LP bound is above every policy");
        assert_eq!(o.opt_frac.last(), Some(&0.0));
    }
    // Greedy round-robins the step arms, one fully recharged arm per round: it earns exactly
    // the LP value per round, so its regret is the start-state term (τ_max − 1)·LP = 7.
    let greedy = run_one(&step, "recharging-greedy", 3000, 0);
    assert!((greedy.regret.last().unwrap() - 7.0).abs() < 1e-9, "{:?}", greedy.regret);

    // A DP exists but not for this horizon: the optimal planner looks min(T - t, H) ahead.
    let six = Recharging::from_table(random_rows(9, 6, 6)).unwrap();
    let h = six.dp_max_horizon().unwrap();
    let o = run_one(&six, "recharging-optimal", h + 100, 0);
    assert_eq!(measure(&o, "exact-benchmark"), 0.0);
    assert_eq!(o.opt_frac.last(), Some(&1.0));
    assert!(*o.regret.last().unwrap() >= 0.0);
}

const POLICIES: &[&str] = &[
    "recharging-greedy",
    "recharging-lp",
    "recharging-optimal",
    "recharging-etc",
    "ucb1",
    "thompson",
    "random",
    "exp3",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The dynamics are deterministic given the actions, so the DP value bounds the expected
    /// reward of every action sequence: no policy's regret is negative on any run.
    #[test]
    fn no_policy_beats_the_dp(
        k in 1usize..=3,
        d in 1usize..=4,
        values in prop::collection::vec(0.0f64..=1.0, 12),
        horizon in 1u64..=60,
        policy in 0usize..POLICIES.len(),
        samples in 1u64..=3,
        seed in 0u64..1000,
    ) {
        let rows: Vec<Vec<f64>> = (0..k).map(|i| {
            let mut r = values[i * 4..i * 4 + d].to_vec();
            r.sort_by(f64::total_cmp);
            r
        }).collect();
        let env = Recharging::from_table(rows).unwrap();
        let name = POLICIES[policy];
        let o = run_with(&env, name, (name == "recharging-etc").then_some(samples), horizon, seed);
        let regret = *o.regret.last().unwrap();
        prop_assert!(regret >= -1e-9, "{name}: regret {regret}");
        if name == "recharging-optimal" {
            prop_assert_eq!(regret, 0.0);
        }
        prop_assert!(o.opt_frac.iter().all(|f| (0.0..=1.0).contains(f)));
        prop_assert_eq!(o.pulls_by_rank.iter().sum::<u64>(), horizon);
        prop_assert!(env.optimal_value(horizon).unwrap() <= env.lp().bound(horizon) + 1e-9);
    }
}

#[test]
fn spec_errors_name_the_key() {
    let spec = |env: &str, policy: &str| {
        format!("horizon = 10\n[[env]]\nkind = \"recharging\"\n{env}\n[[policy]]\nname = \"{policy}\"\n")
    };
    let curves = "bases = [0.5, 0.5]\nrates = [1.0, 2.0]\nmax_delay = 3";
    for (env, policy, field, hint) in [
        ("bases = [0.5, 1.5]\nrates = [1.0, 2.0]\nmax_delay = 3", "ucb1", "env[0].bases[1]", "[0, 1]"),
        ("bases = [0.5, 0.5]\nrates = [1.0]\nmax_delay = 3", "ucb1", "env[0].rates", "one per arm"),
        ("bases = [0.5, 0.5]\nrates = [1.0, 0.0]\nmax_delay = 3", "ucb1", "env[0].rates[1]", "> 0"),
        ("bases = [0.5, 0.5]\nrates = [1.0, 2.0]", "ucb1", "env[0].max_delay", "missing"),
        ("bases = [0.5, 0.5]\nrates = [1.0, 2.0]\nmax_delay = 65", "ucb1", "env[0].max_delay", "at most 64"),
        ("payoffs = [[0.1, 0.5, 0.4]]", "ucb1", "env[0].payoffs[0][2]", "never fall"),
        ("payoffs = [[0.1, 0.5], [0.2]]", "ucb1", "env[0].payoffs[1]", "every arm lists"),
        ("payoffs = [[0.1, 0.5]]\nmax_delay = 3", "ucb1", "env[0].max_delay", "agree"),
        ("payoffs = [[0.1, 0.5]]\nbases = [0.5]", "ucb1", "env[0].bases", "not both"),
        ("max_delay = 3", "ucb1", "env[0].payoffs", "missing"),
        ("payoffs = []", "ucb1", "env[0].payoffs", "at least one arm"),
        (&format!("{curves}\narms = 3"), "ucb1", "env[0].arms", "unknown key"),
        (curves, "hedge", "policy[0]", "every arm's reward"),
        (curves, "linucb", "policy[0]", "context"),
        (
            &format!("payoffs = [{}]", vec!["[0.0, 0.0, 0.0, 1.0]"; 40].join(", ")),
            "recharging-optimal",
            "policy[0]",
            "recharging-lp",
        ),
    ] {
        let err = parse_spec(&spec(env, policy), "test").unwrap_err();
        assert_eq!(err.field, field, "{env} / {policy}: {err}");
        assert!(err.message.contains(hint), "{env} / {policy}: {err}");
    }
    // Recharging policies play recharging environments only.
    let err = parse_spec(
        "horizon = 10\n[[env]]\nkind = \"bernoulli\"\nmeans = [0.1, 0.2]\n[[policy]]\nname = \"recharging-lp\"\n",
        "test",
    )
    .unwrap_err();
    assert_eq!(err.field, "policy[0]");
    assert!(err.message.contains("recharging"), "{err}");
}

#[test]
fn to_toml_round_trips_both_forms() {
    let text = r#"
horizon = 50
seeds = 2
[[env]]
kind = "recharging"
bases = [0.9, 0.3]
rates = [3.0, 0.5]
max_delay = 5
[[env]]
name = "table"
kind = "recharging"
horizon = 40
payoffs = [[0.1, 0.2, 0.2], [0.0, 0.5, 1.0]]
[[policy]]
name = "recharging-etc"
samples = 2
planner = "lp"
[[policy]]
name = "recharging-greedy"
"#;
    let exp = parse_spec(text, "test").unwrap();
    let again = parse_spec(&to_toml(&exp), "again").unwrap();
    assert_eq!(exp.envs, again.envs);
    for (a, b) in exp.envs.iter().zip(&again.envs) {
        assert_eq!(a.identity(), b.identity());
        assert_eq!(a.label, b.label);
    }
    let ids = |e: &armada::harness::Experiment| e.policies.iter().map(PolicySpec::identity).collect::<Vec<_>>();
    assert_eq!(ids(&exp), ids(&again));
    assert_eq!(exp.envs[0].label, "recharging-k2-d5");
    assert_eq!(run_experiment(&exp, &|_| {}), run_experiment(&again, &|_| {}));
}

#[test]
fn results_are_reproducible_and_independent_of_the_thread_count() {
    let mut exp = parse_spec(include_str!("../../../examples/recharging.toml"), "example").unwrap();
    exp.seeds = 3;
    exp.horizon = 1500;
    let first = run_experiment(&exp, &|_| {});
    assert_eq!(first, run_experiment(&exp, &|_| {}));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(first, pool.install(|| run_experiment(&exp, &|_| {})));
    // Common random numbers: every policy on a seed index sees the same reward draws, so two
    // policies that play alike get the same realised rewards.
    let opt: Vec<_> = first.iter().filter(|r| exp.policies[r.id.policy].label == "recharging-optimal").collect();
    assert!(opt.iter().all(|r| r.final_regret() == 0.0));
}

#[test]
fn the_example_runs_and_orders_the_planners() {
    let mut exp = parse_spec(include_str!("../../../examples/recharging.toml"), "example").unwrap();
    exp.seeds = 4;
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    let row = |env: &str, p: &str| summary.results.iter().find(|r| r.env == env && r.policy == p).unwrap();
    for env in ["big-slow-vs-small-fast", "four-curves"] {
        assert_eq!(row(env, "recharging-optimal").mean_regret, 0.0);
        assert!(row(env, "recharging-lp").mean_regret < row(env, "recharging-greedy").mean_regret, "{env}");
        assert!(row(env, "recharging-etc").mean_regret < row(env, "ucb1").mean_regret, "{env}");
        assert!(summary.environments.iter().any(|e| e.env == env && e.regret.contains("exact optimum")));
    }
    let trap = row("big-slow-vs-small-fast", "recharging-greedy");
    let ratio = trap.measures.iter().find(|m| m.name == "ratio-to-benchmark").unwrap();
    assert!((ratio.mean - 0.678).abs() < 0.005, "{ratio:?}");
}

/// Prints the numbers quoted in the comments above and in docs/recharging.md
/// (`cargo test --release --test family_recharging -- --ignored --nocapture`).
#[test]
#[ignore]
fn print_reference_numbers() {
    let step = Recharging::from_table(vec![[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0].to_vec(); 8]).unwrap();
    for (name, env, seeds) in
        [("step arms", &step, 40), ("four curves", &four_curves(), 20), ("trap", &big_slow_vs_small_fast(), 20)]
    {
        let (m, se) = mean_se(seeds, |s| measure(&run_one(env, "recharging-lp", 4000, s), "ratio-to-lp"));
        println!("lp rounding / LP on {name}: {m:.4} ± {se:.4} (se, {seeds} seeds)");
    }
    for (name, env) in [("four curves", four_curves()), ("trap", big_slow_vs_small_fast())] {
        for t in [2000u64, 20_000] {
            let (m, se) = mean_se(6, |s| run_one(&env, "recharging-etc", t, s).regret.last().unwrap() / t as f64);
            let ex = mean_se(6, |s| measure(&run_one(&env, "recharging-etc", t, s), "explore-steps")).0;
            println!("etc regret/T on {name} at T={t}: {m:.5} ± {se:.5}, explore steps {ex:.0}");
        }
        println!("{name}: DP/T at 5000 = {:.5}, LP = {:.5}", env.optimal_value(5000).unwrap() / 5000.0, env.lp().value);
    }
    let trap = big_slow_vs_small_fast();
    for t in [1000u64, 10_000] {
        println!(
            "greedy/optimum on trap at T={t}: {:.5}",
            measure(&run_one(&trap, "recharging-greedy", t, 0), "ratio-to-benchmark")
        );
    }
    let exp = parse_spec(include_str!("../../../examples/recharging.toml"), "example").unwrap();
    let summary = summarize(&exp, &run_experiment(&exp, &|_| {}));
    for e in &summary.environments {
        println!("{}: {}", e.env, e.regret);
    }
    for r in &summary.results {
        let ms: Vec<String> = r.measures.iter().map(|m| format!("{} {:.4}", m.name, m.mean)).collect();
        println!(
            "{} | {} | regret {:.1} ± {:.1} | optfrac {:.3} | {}",
            r.env,
            r.policy,
            r.mean_regret,
            r.ci95_regret.unwrap_or(0.0),
            r.opt_frac,
            ms.join(", ")
        );
    }
}
