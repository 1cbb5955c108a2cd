//! Armada core: environments, policies, the run harness, metrics and the experiment spec.
pub mod env;
pub mod policy;
pub mod rng;
