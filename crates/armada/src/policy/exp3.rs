//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct Exp3 { arms: usize }
impl Exp3 {
    pub fn new(info: &BanditInfo, eta: Option<f64>, gamma: f64, range: (f64, f64)) -> Self { Exp3 { arms: info.arms } }
}
impl Policy for Exp3 {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}

pub struct Exp3Ix { arms: usize }
impl Exp3Ix {
    pub fn new(info: &BanditInfo, eta: Option<f64>, gamma: Option<f64>, range: (f64, f64)) -> Self { Exp3Ix { arms: info.arms } }
}
impl Policy for Exp3Ix {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
