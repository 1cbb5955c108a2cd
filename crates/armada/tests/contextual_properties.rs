//! Property tests of contextual run invariants, for every policy in the registry (classic ones
//! play blind to the context) on random small linear worlds: pull counts sum to the horizon,
//! regret is non-negative, non-decreasing and bounded by the summed spread of the arms' expected
//! rewards, MinFrac and OptFrac are fractions, and — by common random numbers — reward plus
//! regret is the same for every policy. The filled-in spec (`to_toml`) parses back to the same
//! experiment and the same runs.

use armada::env::contextual::{Context, ContextualEnvironment};
use armada::env::linear::{ContextDistribution, LinearReward, LinearSpec};
use armada::env::{EnvKind, EnvSpec};
use armada::harness::{Experiment, RunRecord, run_experiment};
use armada::policy::{POLICIES, PolicySpec};
use armada::rng::{self, Role};
use armada::spec::{parse_spec, to_toml};
use proptest::prelude::*;

fn experiment(world: LinearSpec, horizon: u64, seed: u64) -> Experiment {
    let kind = EnvKind::Linear(world);
    Experiment {
        name: "contextual-prop".into(),
        horizon,
        seeds: 2,
        seed,
        checkpoints: 12,
        envs: vec![EnvSpec::new(kind)],
        // Every policy that a contextual environment can feed (not Hedge, which needs every
        // arm's reward).
        policies: contextual_capable().map(PolicySpec::with_defaults).collect(),
    }
}

fn contextual_capable() -> impl Iterator<Item = &'static armada::policy::PolicyDef> {
    POLICIES.iter().filter(|d| !d.full_information())
}

/// What the environment showed in one seed index, replayed outside the harness from the same
/// streams (the instance stream and the environment's reward stream, which no policy touches).
struct Replayed {
    /// Σ_t max_a μ_a(x_t) and Σ_t (max_a − min_a) μ_a(x_t) at each checkpoint.
    best: Vec<f64>,
    spread: Vec<f64>,
    /// Σ_t (r_t − μ_{a_t}(x_t)): the realised noise, the same whatever the arm (Gaussian rewards).
    noise: f64,
}

fn replay(exp: &Experiment, seed_index: u64) -> Replayed {
    let env = &exp.envs[0];
    let world = env.instantiate_contextual(exp.seed, seed_index);
    let armada::env::ContextualInstance::Linear(inst) = world else { unreachable!("a linear world") };
    let shape = inst.spec.shape();
    let mut ctx = Context::zeros(shape.arms, shape.dim, shape.arm_dim);
    let mut means = vec![0.0; shape.arms];
    let mut stream = rng::stream(exp.seed, Role::Reward, &[&env.identity()], seed_index);
    let mut env = &inst;
    let (mut best, mut spread, mut noise) = (0.0, 0.0, 0.0);
    let mut out = Replayed { best: Vec::new(), spread: Vec::new(), noise: 0.0 };
    let mut t = 0;
    for next in exp.checkpoints_of(0) {
        while t < next {
            env.observe(&mut ctx, &mut means, &mut stream);
            let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
            best += hi;
            spread += hi - lo;
            noise += env.reward(0, &means, &mut stream) - means[0];
            t += 1;
        }
        out.best.push(best);
        out.spread.push(spread);
    }
    out.noise = noise;
    out
}

fn check_record(exp: &Experiment, r: &RunRecord, seen: &Replayed, logistic: bool) -> Result<(), TestCaseError> {
    let name = exp.policies[r.id.policy].def.name;
    let horizon = exp.horizon;
    let k = exp.envs[0].arms();
    prop_assert_eq!(r.pulls_by_rank.len(), k, "{}", name);
    prop_assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), horizon, "{}", name);
    prop_assert_eq!(r.regret.len(), seen.spread.len(), "{}", name);
    prop_assert!(r.regret[0] >= 0.0, "{} regret {}", name, r.regret[0]);
    prop_assert!(r.regret.windows(2).all(|w| w[0] <= w[1]), "{} regret decreased: {:?}", name, r.regret);
    // Each step costs at most the spread of the expected rewards in its context; the sums are
    // accumulated in different orders, hence the rounding allowance.
    for (c, (&reg, &spread)) in r.regret.iter().zip(&seen.spread).enumerate() {
        prop_assert!(
            reg <= spread + 1e-9 * (1.0 + spread),
            "{} checkpoint {}: regret {} > Σ spread {}",
            name,
            c,
            reg,
            spread
        );
    }
    if logistic {
        // Expected rewards are probabilities: the spread is below 1 and the reward a count.
        prop_assert!(r.final_regret() <= horizon as f64, "{}", name);
        prop_assert!(
            r.reward.fract() == 0.0 && (0.0..=horizon as f64).contains(&r.reward),
            "{} reward {}",
            name,
            r.reward
        );
    } else {
        // Common random numbers: reward + regret = Σ max_a μ_a(x_t) + Σ σ ξ_t for every policy.
        let want = seen.best.last().unwrap() + seen.noise;
        let got = r.reward + r.final_regret();
        let scale = 1.0 + seen.spread.last().unwrap() + seen.best.last().unwrap().abs() + seen.noise.abs();
        prop_assert!((got - want).abs() <= 1e-9 * scale, "{}: reward + regret {} ≠ {}", name, got, want);
    }
    for f in r.min_frac.iter().chain(&r.opt_frac) {
        prop_assert!((0.0..=1.0 + 1e-12).contains(f), "{} fraction {}", name, f);
    }
    prop_assert!(r.min_gap.is_none(), "{}: a contextual run has no fixed gap", name);
    Ok(())
}

fn world() -> impl Strategy<Value = LinearSpec> {
    (
        2usize..=6,
        1usize..=6,
        0usize..=3,
        prop_oneof![Just(ContextDistribution::Gaussian), Just(ContextDistribution::Sphere)],
        prop_oneof![
            Just(LinearReward::Logistic),
            Just(LinearReward::Gaussian { sigma: 0.0 }),
            (0.0f64..3.0).prop_map(|sigma| LinearReward::Gaussian { sigma }),
        ],
    )
        .prop_map(|(arms, features, arm_features, context, reward)| LinearSpec {
            arms,
            features,
            arm_features,
            context,
            reward,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn contextual_runs_keep_their_invariants(world in world(), horizon in 1u64..=300, seed in any::<u64>()) {
        let logistic = world.reward == LinearReward::Logistic;
        let exp = experiment(world, horizon, seed);
        let seen: Vec<Replayed> = (0..exp.seeds).map(|s| replay(&exp, s)).collect();
        let recs = run_experiment(&exp, &|_| {});
        prop_assert_eq!(recs.len(), contextual_capable().count() * 2);
        for r in &recs {
            check_record(&exp, r, &seen[r.id.seed_index as usize], logistic)?;
        }
    }

    #[test]
    fn filled_contextual_specs_round_trip(world in world(), horizon in 1u64..=120, seed in 0..=i64::MAX as u64) {
        // Seeds a spec can express (TOML integers are i64); larger ones: see
        // `filled_spec_keeps_a_master_seed_above_i64_max`.
        let exp = experiment(world, horizon, seed);
        let text = to_toml(&exp);
        let again = parse_spec(&text, "filled.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(to_toml(&again), text.clone());
        prop_assert_eq!(&again.envs, &exp.envs);
        let ids = |e: &Experiment| -> Vec<(String, String)> {
            e.policies.iter().map(|p| (p.label.clone(), p.identity())).collect()
        };
        prop_assert_eq!(ids(&again), ids(&exp));
        prop_assert_eq!(
            (again.horizon, again.seeds, again.seed, again.checkpoints),
            (exp.horizon, exp.seeds, exp.seed, exp.checkpoints)
        );
        prop_assert_eq!(again.envs[0].identity(), exp.envs[0].identity());
        prop_assert!(run_experiment(&again, &|_| {}) == run_experiment(&exp, &|_| {}), "runs differ:\n{}", text);
    }
}

/// `to_toml` promises that parsing its output gives back the same experiment. A master seed above
/// i64::MAX (any u64 is a valid `Experiment::seed`, and the proptests above draw them) is written
/// as a negative integer (`x as i64` wraps), which the parser then rejects ("seed: must be a whole
/// number >= 0, got -9223372036854775808"), so the filled spec saved next to results cannot be
/// re-run. Either side would do: refuse such a seed, or write it in a form the parser reads back.
#[test]
fn filled_spec_keeps_a_master_seed_above_i64_max() {
    let world = LinearSpec {
        arms: 2,
        features: 1,
        arm_features: 0,
        context: ContextDistribution::Gaussian,
        reward: LinearReward::Logistic,
    };
    let exp = experiment(world, 1, 1 << 63);
    let text = to_toml(&exp);
    match parse_spec(&text, "filled.toml") {
        Ok(again) => assert_eq!(again.seed, exp.seed, "{text}"),
        Err(e) => panic!("the filled spec of an experiment with seed 2^63 does not parse: {e}"),
    }
}
