//! A restless instance (every arm's two transition matrices, state rewards and start state, and
//! the budget), the coRMAB-style random draw, and [`World`]: the joint chain a run steps through.

use crate::rng::{self, Role, Stream};

/// N arms, each a Markov chain on `states` states with a passive and an active transition
/// matrix; at most `budget` arms are pulled per step.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub arms: usize,
    pub states: usize,
    pub budget: usize,
    /// Passive transition matrices, arm-major: `passive[(j·S + x)·S + y]` = P(x → y) for arm j.
    pub passive: Vec<f64>,
    /// Active transition matrices, same layout.
    pub active: Vec<f64>,
    /// State rewards: `rewards[j·S + y]` is paid when arm j lands in state y.
    pub rewards: Vec<f64>,
    /// Each arm's state at the start of every episode.
    pub start: Vec<usize>,
}

impl Instance {
    /// Arm j's transition matrix under `active` (S × S, by rows).
    #[inline]
    pub fn matrix(&self, arm: usize, active: bool) -> &[f64] {
        let s2 = self.states * self.states;
        let m = if active { &self.active } else { &self.passive };
        &m[arm * s2..(arm + 1) * s2]
    }

    /// The row P(x → ·) of arm j under `active`.
    #[inline]
    pub fn row(&self, arm: usize, active: bool, x: usize) -> &[f64] {
        &self.matrix(arm, active)[x * self.states..(x + 1) * self.states]
    }

    /// Arm j's state rewards (S entries).
    #[inline]
    pub fn state_rewards(&self, arm: usize) -> &[f64] {
        &self.rewards[arm * self.states..(arm + 1) * self.states]
    }

    /// ρ_j(x, a): arm j's expected reward this step when it is in state x and pulled or not
    /// (the reward of the state it lands in, averaged over the transition).
    pub fn expected_reward(&self, arm: usize, x: usize, active: bool) -> f64 {
        self.row(arm, active, x).iter().zip(self.state_rewards(arm)).map(|(p, r)| p * r).sum()
    }

    /// The number of joint states S^N, if it fits in a `usize`.
    pub fn joint_states(&self) -> Option<usize> {
        (0..self.arms).try_fold(1usize, |acc, _| acc.checked_mul(self.states))
    }

    /// The joint-state index Σ_j s_j·S^j (arm 0 is the least significant digit).
    #[inline]
    pub fn joint_index(&self, states: &[usize]) -> usize {
        states.iter().rev().fold(0, |acc, &s| acc * self.states + s)
    }

    /// The row-stochastic up/down chain of the coRMAB base arm: from x, move to min(x + 1, S − 1)
    /// w.p. `up`, else to max(x − 1, 0).
    pub fn chain_matrix(states: usize, up: f64) -> Vec<f64> {
        let mut m = vec![0.0; states * states];
        for x in 0..states {
            m[x * states + (x + 1).min(states - 1)] += up;
            m[x * states + x.saturating_sub(1)] += 1.0 - up;
        }
        m
    }

    /// Draws the coRMAB random instance (Xu, Wilder, Khalil, Tambe, ICLR 2025;
    /// `environment/rmab_instances.py` and `base_envs.py` of lily-x/combinatorial-rmab): each arm
    /// is an up/down chain with passive up-probability U(0, 0.2) and active U(0.7, 0.9); the first
    /// `budget` arms are "good", with state rewards falling from 0.2 to 0.1 below a top state worth
    /// U{4, 5, 6}, the others rising from 0.1 to 0.2 below a top worth U{1, 2, 3} (for S = 4 these
    /// are coRMAB's [0.2, 0.15, 0.1, top] and [0.1, 0.15, 0.2, top]; with S = 2 the one lower state
    /// pays 0.2 or 0.1). Every arm starts in state 0.
    pub fn random(arms: usize, states: usize, budget: usize, seed: u64) -> Instance {
        let tag = format!("arms={arms},states={states},budget={budget}");
        let mut rng = rng::stream(seed, Role::Instance, &["restless-random", &tag], 0);
        let (mut passive, mut active, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..arms {
            let up_passive = 0.2 * rng::uniform(&mut rng);
            let up_active = 0.7 + 0.2 * rng::uniform(&mut rng);
            passive.extend(Self::chain_matrix(states, up_passive));
            active.extend(Self::chain_matrix(states, up_active));
            let good = j < budget;
            let top = if good { 4.0 } else { 1.0 } + rng::index(&mut rng, 3) as f64;
            let lower = states - 1;
            for k in 0..lower {
                let share = if lower > 1 { k as f64 / (lower - 1) as f64 } else { 0.0 };
                rewards.push(if good { 0.2 - 0.1 * share } else { 0.1 + 0.1 * share });
            }
            rewards.push(top);
        }
        Instance { arms, states, budget, passive, active, rewards, start: vec![0; arms] }
    }
}

/// An instance with the tables a run reads every step: expected rewards ρ and cumulative
/// transition rows for sampling.
#[derive(Debug)]
pub struct Tables {
    /// ρ_j(x, a) at `(j·S + x)·2 + a`.
    pub rho: Vec<f64>,
    /// Cumulative transition rows at `((j·2 + a)·S + x)·S + y`.
    cumulative: Vec<f64>,
    /// The last state with positive probability of each row (where a draw lands when rounding
    /// leaves the cumulative sum a hair below 1).
    last: Vec<usize>,
}

impl Tables {
    pub fn new(inst: &Instance) -> Tables {
        let s = inst.states;
        let mut rho = Vec::with_capacity(inst.arms * s * 2);
        let mut cumulative = Vec::with_capacity(inst.arms * 2 * s * s);
        let mut last = Vec::with_capacity(inst.arms * 2 * s);
        for j in 0..inst.arms {
            for x in 0..s {
                rho.push(inst.expected_reward(j, x, false));
                rho.push(inst.expected_reward(j, x, true));
            }
            for active in [false, true] {
                for x in 0..s {
                    let row = inst.row(j, active, x);
                    let mut acc = 0.0;
                    for &p in row {
                        acc += p;
                        cumulative.push(acc);
                    }
                    last.push(row.iter().rposition(|&p| p > 0.0).unwrap_or(s - 1));
                }
            }
        }
        Tables { rho, cumulative, last }
    }

    #[inline]
    pub fn rho(&self, s: usize, arm: usize, x: usize, active: bool) -> f64 {
        self.rho[(arm * s + x) * 2 + usize::from(active)]
    }

    /// The next state of arm j from x under `active` for the uniform draw `u` (inversion).
    #[inline]
    fn next(&self, s: usize, arm: usize, x: usize, active: bool, u: f64) -> usize {
        let r = (arm * 2 + usize::from(active)) * s + x;
        let cum = &self.cumulative[r * s..(r + 1) * s];
        cum.iter().position(|&c| u < c).unwrap_or(self.last[r])
    }
}

/// The joint chain of one run: every arm's current state.
pub struct World<'a> {
    inst: &'a Instance,
    tables: &'a Tables,
    states: Vec<usize>,
}

impl<'a> World<'a> {
    /// A world with every arm in its start state.
    pub fn new(inst: &'a Instance, tables: &'a Tables) -> Self {
        World { inst, tables, states: inst.start.clone() }
    }

    /// Puts every arm back in its start state (an episode begins).
    pub fn reset(&mut self) {
        self.states.copy_from_slice(&self.inst.start);
    }

    pub fn states(&self) -> &[usize] {
        &self.states
    }

    /// E[r_t | s_t, a_t] = Σ_j ρ_j(s_j, a_j): this step's expected reward if `pulled` is played.
    #[inline]
    pub fn expected_reward(&self, pulled: &[bool]) -> f64 {
        let s = self.inst.states;
        self.states.iter().zip(pulled).enumerate().map(|(j, (&x, &a))| self.tables.rho(s, j, x, a)).sum()
    }

    /// Moves every arm one step (`pulled` arms by their active matrix, the rest by their passive
    /// one) and returns the realised reward Σ_j r_j(s'_j). Draws exactly one uniform per arm from
    /// `rng` whatever `pulled` is, so every policy on a seed index faces the same draws (common
    /// random numbers: the same u moves an arm the same way whenever it is in the same state
    /// under the same action).
    #[inline]
    pub fn advance(&mut self, pulled: &[bool], rng: &mut Stream) -> f64 {
        let s = self.inst.states;
        let mut reward = 0.0;
        for (j, (x, &a)) in self.states.iter_mut().zip(pulled).enumerate() {
            let u = rng::uniform(rng);
            *x = self.tables.next(s, j, *x, a, u);
            reward += self.inst.rewards[j * s + *x];
        }
        reward
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_matrices_are_stochastic_and_clip_at_the_ends() {
        let m = Instance::chain_matrix(3, 0.8);
        let expected = [0.2, 0.8, 0.0, 0.2, 0.0, 0.8, 0.0, 0.2, 0.8];
        assert!(m.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15), "{m:?}");
        let inst = Instance::random(5, 4, 2, 9);
        for j in 0..5 {
            for a in [false, true] {
                for x in 0..4 {
                    assert!((inst.row(j, a, x).iter().sum::<f64>() - 1.0).abs() < 1e-12);
                }
            }
        }
        // The coRMAB reward rows for S = 4.
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(&inst.state_rewards(0)[..3], &[0.2, 0.15, 0.1]));
        assert!(close(&inst.state_rewards(4)[..3], &[0.1, 0.15, 0.2]));
        assert!((4.0..=6.0).contains(&inst.state_rewards(1)[3]));
        assert!((1.0..=3.0).contains(&inst.state_rewards(2)[3]));
    }

    #[test]
    fn sampling_follows_the_rows() {
        let inst = Instance::random(1, 3, 1, 3);
        let tables = Tables::new(&inst);
        let row = inst.row(0, true, 1).to_vec();
        let mut rng = rng::stream(1, Role::Reward, &["t"], 0);
        let mut n = [0usize; 3];
        for _ in 0..100_000 {
            n[tables.next(3, 0, 1, true, rng::uniform(&mut rng))] += 1;
        }
        for y in 0..3 {
            // Binomial sd ≤ sqrt(1e5 / 4) ≈ 158; allow 5 sd.
            assert!((n[y] as f64 - 1e5 * row[y]).abs() < 800.0, "{n:?} vs {row:?}");
        }
    }
}
