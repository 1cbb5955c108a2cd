//! Armada core: environments, policies, the run harness, metrics and the experiment spec.
pub mod data;
pub mod env;
pub mod family;
pub mod harness;
pub mod linalg;
pub mod metrics;
pub mod policy;
pub mod rng;
pub mod spec;
pub mod summary;
