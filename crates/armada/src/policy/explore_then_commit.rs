//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct ExploreThenCommit { arms: usize }
impl ExploreThenCommit {
    pub fn new(info: &BanditInfo, m: Option<u64>) -> Self { ExploreThenCommit { arms: info.arms } }
}
impl Policy for ExploreThenCommit {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
