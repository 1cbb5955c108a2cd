//! Uniform random play: the baseline every learner must beat.

use super::{BanditInfo, Policy};
use crate::rng::{self, Stream};

/// Pulls an arm uniformly at random at every step.
pub struct Random {
    arms: usize,
}

impl Random {
    pub fn new(info: &BanditInfo) -> Self {
        Random { arms: info.arms }
    }
}

impl Policy for Random {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> usize {
        rng::index(rng, self.arms)
    }
    #[inline]
    fn update(&mut self, _arm: usize, _reward: f64, _rng: &mut Stream) {}
}
