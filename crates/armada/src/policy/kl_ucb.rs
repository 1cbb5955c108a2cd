//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct KlUcb { arms: usize }
impl KlUcb {
    pub fn new(info: &BanditInfo, bernoulli: bool, c: f64) -> Self { KlUcb { arms: info.arms } }
}
impl Policy for KlUcb {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}

/// PLACEHOLDER
pub fn kl_bernoulli(p: f64, q: f64) -> f64 { let _ = (p, q); 0.0 }
