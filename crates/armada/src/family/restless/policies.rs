//! The restless family's policies: each step they see every arm's state and choose a set of at
//! most B arms to pull. All four know the instance (transition matrices and rewards); this family
//! measures planning, not learning.

use super::instance::{Instance, Tables};
use super::oracle::Dp;
use super::whittle::WhittleIndex;
use crate::rng::{self, Stream};
use std::sync::Arc;

/// One run's decision-maker, built once per run; [`Planner::choose`] does not allocate.
pub enum Planner {
    /// The (up to) B arms with the largest positive Whittle index of their current state.
    Whittle { index: Arc<WhittleIndex> },
    /// The (up to) B arms with the largest positive immediate gain ρ_j(x, act) − ρ_j(x, rest);
    /// `gain[j·S + x]`.
    Myopic { states: usize, gain: Vec<f64> },
    /// B arms uniformly at random (a partial Fisher–Yates shuffle of `order`).
    Random { budget: usize, order: Vec<usize> },
    /// The DP's maximising action for the steps left in the episode.
    Optimal { dp: Arc<Dp> },
}

impl Planner {
    /// The myopic planner of `inst`: gains ρ_j(x, pull) − ρ_j(x, rest).
    pub fn myopic(inst: &Instance, tables: &Tables) -> Planner {
        let s = inst.states;
        let gain = (0..inst.arms * s)
            .map(|i| tables.rho(s, i / s, i % s, true) - tables.rho(s, i / s, i % s, false))
            .collect();
        Planner::Myopic { states: s, gain }
    }

    /// The uniformly random planner of `inst` (B arms per step).
    pub fn random(inst: &Instance) -> Planner {
        Planner::Random { budget: inst.budget, order: (0..inst.arms).collect() }
    }

    /// Fills `pulled` with this step's action and returns how many arms it pulls. `steps_left`
    /// counts this step (1 on an episode's last step); `joint` is the joint-state index (read by
    /// the optimal planner only).
    #[inline]
    pub fn choose(
        &mut self,
        budget: usize,
        steps_left: usize,
        states: &[usize],
        joint: usize,
        rng: &mut Stream,
        pulled: &mut [bool],
    ) -> usize {
        match self {
            Planner::Whittle { index } => top_positive(|j| index.of(j, states[j]), budget, pulled),
            Planner::Myopic { states: s, gain } => {
                let s = *s;
                top_positive(|j| gain[j * s + states[j]], budget, pulled)
            }
            Planner::Random { budget, order } => {
                pulled.fill(false);
                let n = order.len();
                let b = (*budget).min(n);
                for i in 0..b {
                    let k = i + rng::index(rng, n - i);
                    order.swap(i, k);
                    pulled[order[i]] = true;
                }
                b
            }
            Planner::Optimal { dp } => {
                let mask = dp.best(steps_left, joint);
                for (j, p) in pulled.iter_mut().enumerate() {
                    *p = mask >> j & 1 == 1;
                }
                mask.count_ones() as usize
            }
        }
    }
}

/// Marks the (at most `budget`) arms with the largest strictly positive `score`, ties to the
/// lower arm index; returns how many. O(N·B).
#[inline]
pub fn top_positive(score: impl Fn(usize) -> f64, budget: usize, pulled: &mut [bool]) -> usize {
    pulled.fill(false);
    let mut count = 0;
    for _ in 0..budget {
        let mut pick = None;
        let mut best = 0.0;
        for (j, &p) in pulled.iter().enumerate() {
            if !p {
                let v = score(j);
                if v > best {
                    best = v;
                    pick = Some(j);
                }
            }
        }
        match pick {
            Some(j) => {
                pulled[j] = true;
                count += 1;
            }
            None => break,
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_positive_takes_the_best_positive_scores() {
        let scores = [0.5, -1.0, 2.0, 0.5, 0.0];
        let mut pulled = [false; 5];
        assert_eq!(top_positive(|j| scores[j], 2, &mut pulled), 2);
        assert_eq!(pulled, [true, false, true, false, false]);
        assert_eq!(top_positive(|j| scores[j], 5, &mut pulled), 3);
        assert_eq!(pulled, [true, false, true, true, false]);
    }
}
