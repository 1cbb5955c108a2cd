//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct UcbV { arms: usize }
impl UcbV {
    pub fn new(info: &BanditInfo, zeta: f64, c: f64, b: f64) -> Self { UcbV { arms: info.arms } }
}
impl Policy for UcbV {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
