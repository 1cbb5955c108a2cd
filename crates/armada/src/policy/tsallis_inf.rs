//! PLACEHOLDER — to be replaced by the real implementation.
#![allow(unused)]
use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

pub struct TsallisInf { arms: usize }
impl TsallisInf {
    pub fn new(info: &BanditInfo, range: (f64, f64)) -> Self { TsallisInf { arms: info.arms } }
}
impl Policy for TsallisInf {
    fn select(&mut self, rng: &mut Stream) -> usize { rng::index(rng, self.arms) }
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}

/// PLACEHOLDER
pub fn tsallis_weights(losses: &[f64], eta: f64, out: &mut [f64]) -> f64 { let _ = (losses, eta, out); 0.0 }
