//! The hot loop allocates nothing: for every policy, thousands of select/pull/update steps run
//! under a counting allocator and must not allocate once the policy is built. Classic policies
//! are checked on classic bandits, every policy on a linear contextual world.

use armada::env::contextual::{Context, ContextualEnvironment};
use armada::env::linear::{ContextDistribution, LinearReward, LinearSpec};
use armada::env::{BernoulliEnv, Environment, GaussianEnv, RewardModel};
use armada::policy::{BanditInfo, ContextInfo, ContextualPolicy, POLICIES, Policy, PolicySpec};
use armada::rng::{self, Role};

mod common;
use common::allocations;

/// Steps `policy` on `env` and returns how many allocations happened meanwhile.
fn allocations_during<P: Policy, E: Environment>(policy: &mut P, env: &mut E, steps: usize) -> usize {
    let mut rewards = rng::stream(1, Role::Reward, &["alloc"], 0);
    let mut prng = rng::stream(1, Role::Policy, &["alloc"], 0);
    let before = allocations();
    for _ in 0..steps {
        let a = policy.select(&mut prng);
        let r = env.pull(a, &mut rewards);
        policy.update(a, r, &mut prng);
    }
    allocations() - before
}

#[test]
fn no_policy_allocates_per_step() {
    let means = [0.1, 0.3, 0.5, 0.55, 0.6, 0.2, 0.45, 0.4, 0.35, 0.58, 0.52, 0.05, 0.6, 0.3, 0.25];
    let sigmas = [1.0; 15];
    let bernoulli = RewardModel::Bernoulli;
    let gaussian = RewardModel::Gaussian { sigmas: sigmas.to_vec() };
    for def in POLICIES.iter().filter(|d| !d.contextual) {
        let spec = PolicySpec::with_defaults(def);
        let info = BanditInfo { arms: means.len(), horizon: 5000, reward_model: &bernoulli };
        let mut p = spec.build(&info);
        let n = allocations_during(&mut p, &mut BernoulliEnv { means: &means }, 5000);
        assert_eq!(n, 0, "{} allocated {n} times on a Bernoulli bandit", def.name);
        let info = BanditInfo { arms: means.len(), horizon: 5000, reward_model: &gaussian };
        let mut p = spec.build(&info);
        let n = allocations_during(&mut p, &mut GaussianEnv { means: &means, sigmas: &sigmas }, 5000);
        assert_eq!(n, 0, "{} allocated {n} times on a Gaussian bandit", def.name);
    }
}

#[test]
fn no_policy_allocates_per_contextual_step() {
    // Shared contexts only, then shared contexts plus per-arm features.
    for arm_features in [0, 2] {
        let world = LinearSpec {
            arms: 6,
            features: 4,
            arm_features,
            context: ContextDistribution::Gaussian,
            reward: LinearReward::Gaussian { sigma: 0.1 },
        };
        let instance = world.draw(&mut rng::stream(3, Role::Instance, &["alloc"], 0));
        let model = RewardModel::Gaussian { sigmas: vec![1.0; 6] };
        let bandit = BanditInfo { arms: 6, horizon: 6000, reward_model: &model };
        let info = ContextInfo { shape: world.shape(), horizon: 6000 };
        // Hybrid LinUCB works on small nalgebra temporaries for its shared model (documented there).
        for def in POLICIES.iter().filter(|d| d.name != "linucb-hybrid") {
            let mut policy = PolicySpec::with_defaults(def).build_contextual(&info, &bandit);
            let mut env = &instance;
            let mut ctx = Context::zeros(6, 4, arm_features);
            let mut means = vec![0.0; 6];
            let mut rewards = rng::stream(1, Role::Reward, &["alloc"], 0);
            let mut prng = rng::stream(1, Role::Policy, &["alloc"], 0);
            // 6000 steps: every arm of the linear policies passes through refreshes (every 512 updates).
            let before = allocations();
            for _ in 0..6000 {
                env.observe(&mut ctx, &mut means, &mut rewards);
                let a = policy.select(&ctx, &mut prng);
                let r = env.reward(a, &means, &mut rewards);
                policy.update(&ctx, a, r, &mut prng);
            }
            let n = allocations() - before;
            assert_eq!(n, 0, "{} allocated {n} times on a linear world with {arm_features} arm features", def.name);
        }
    }
}
