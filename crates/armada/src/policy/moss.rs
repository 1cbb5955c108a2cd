//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct Moss { arms: usize }
impl Moss {
    pub fn new(info: &BanditInfo) -> Self { Moss { arms: info.arms } }
}
impl Policy for Moss {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
