//! The hot loop allocates nothing: for every policy, thousands of select/pull/update steps run
//! under a counting allocator and must not allocate once the policy is built.

use armada::env::{BernoulliEnv, Environment, GaussianEnv, RewardModel};
use armada::policy::{BanditInfo, POLICIES, Policy, PolicySpec};
use armada::rng::{self, Role};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Steps `policy` on `env` and returns how many allocations happened meanwhile.
fn allocations_during<P: Policy, E: Environment>(policy: &mut P, env: &mut E, steps: usize) -> usize {
    let mut rewards = rng::stream(1, Role::Reward, &["alloc"], 0);
    let mut prng = rng::stream(1, Role::Policy, &["alloc"], 0);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..steps {
        let a = policy.select(&mut prng);
        let r = env.pull(a, &mut rewards);
        policy.update(a, r, &mut prng);
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn no_policy_allocates_per_step() {
    let means = [0.1, 0.3, 0.5, 0.55, 0.6, 0.2, 0.45, 0.4, 0.35, 0.58, 0.52, 0.05, 0.6, 0.3, 0.25];
    let sigmas = [1.0; 15];
    let bernoulli = RewardModel::Bernoulli;
    let gaussian = RewardModel::Gaussian { sigmas: sigmas.to_vec() };
    for def in POLICIES {
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
