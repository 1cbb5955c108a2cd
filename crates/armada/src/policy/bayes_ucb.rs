//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct BayesUcb { arms: usize }
impl BayesUcb {
    pub fn new(info: &BanditInfo, bernoulli: bool, c: f64) -> Self { BayesUcb { arms: info.arms } }
}
impl Policy for BayesUcb {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
