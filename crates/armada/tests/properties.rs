//! Property tests of run invariants, for every policy on random small instances: pull counts
//! sum to the horizon, regret is non-decreasing and bounded by T·max gap, MinFrac and OptFrac
//! are fractions, and a Bernoulli run's reward is a count of successes.

use armada::env::{EnvKind, EnvSpec, Sigma};
use armada::harness::{Experiment, run_experiment};
use armada::policy::{POLICIES, PolicySpec};
use proptest::prelude::*;

fn experiment(kind: EnvKind, horizon: u64, seed: u64) -> Experiment {
    Experiment {
        name: "prop".into(),
        horizon,
        seeds: 2,
        seed,
        checkpoints: 12,
        envs: vec![EnvSpec { label: "e".into(), shuffle: true, ..EnvSpec::new(kind) }],
        policies: POLICIES.iter().filter(|d| !d.contextual).map(PolicySpec::with_defaults).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bernoulli_runs_keep_their_invariants(
        means in prop::collection::vec(0.0f64..=1.0, 2..8),
        horizon in 1u64..400,
        seed in any::<u64>(),
    ) {
        let exp = experiment(EnvKind::Bernoulli { means: means.clone() }, horizon, seed);
        let max_gap = means.iter().copied().fold(f64::MIN, f64::max) - means.iter().copied().fold(f64::MAX, f64::min);
        for r in run_experiment(&exp, &|_| {}) {
            let name = exp.policies[r.id.policy].def.name;
            prop_assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), horizon, "{}", name);
            prop_assert!(r.regret.windows(2).all(|w| w[0] <= w[1]), "{} regret decreased", name);
            prop_assert!(r.final_regret() <= horizon as f64 * max_gap + 1e-9, "{}", name);
            prop_assert!(r.regret[0] >= 0.0);
            for f in r.min_frac.iter().chain(&r.opt_frac) {
                prop_assert!((0.0..=1.0 + 1e-12).contains(f), "{} fraction {}", name, f);
            }
            prop_assert!(r.reward.fract() == 0.0 && r.reward >= 0.0 && r.reward <= horizon as f64, "{}", name);
        }
    }

    #[test]
    fn gaussian_runs_keep_their_invariants(
        means in prop::collection::vec(-5.0f64..5.0, 2..6),
        sigma in 0.01f64..10.0,
        horizon in 1u64..300,
        seed in any::<u64>(),
    ) {
        let kind = EnvKind::Gaussian { means: means.clone(), sigma: Sigma::Shared(sigma) };
        let exp = experiment(kind, horizon, seed);
        for r in run_experiment(&exp, &|_| {}) {
            let name = exp.policies[r.id.policy].def.name;
            prop_assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), horizon, "{}", name);
            prop_assert!(r.regret.windows(2).all(|w| w[0] <= w[1]), "{}", name);
            prop_assert!(r.reward.is_finite(), "{}", name);
        }
    }
}
