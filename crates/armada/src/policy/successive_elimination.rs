//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct SuccessiveElimination { arms: usize }
impl SuccessiveElimination {
    pub fn new(info: &BanditInfo, c: f64) -> Self { SuccessiveElimination { arms: info.arms } }
}
impl Policy for SuccessiveElimination {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
