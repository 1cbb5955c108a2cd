//! The exact oracles of the recharging family: the payoff table, the graph of reachable
//! τ-states, the finite-horizon dynamic program over it, and the LP relaxation.
//!
//! Nothing here draws random numbers or knows about runs; the environment (`mod.rs`) and the
//! policies (`policies.rs`) use these pieces with the true payoffs (the benchmark, the planners)
//! or with estimated ones (explore-then-commit).

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use std::collections::{HashMap, VecDeque};

/// The dynamic program stores one `u16` per (state, steps to go): the low [`DP_MAX_ARMS`] bits
/// mark the actions within tolerance of the best, the top four bits hold the exact argmax.
pub const DP_MAX_ARMS: usize = 12;
/// The most reachable τ-states the dynamic program will enumerate.
pub const DP_MAX_STATES: usize = 1 << 17;
/// The most (state, steps-to-go) entries one dynamic-programming table may hold (64 MiB).
pub const DP_MAX_ENTRIES: u64 = 1 << 25;

const ARGMAX_SHIFT: u32 = 12;
const OPTIMAL_MASK: u16 = (1 << ARGMAX_SHIFT) - 1;

/// Expected payoffs p_i(τ) for τ = 1..=max_delay, one row per arm, every row non-decreasing
/// and in [0, 1] (checked by the constructors in `mod.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct Payoffs {
    arms: usize,
    max_delay: usize,
    table: Vec<f64>,
}

impl Payoffs {
    /// A table from rows of equal length ≥ 1 (not validated here).
    pub(crate) fn from_rows(rows: &[Vec<f64>]) -> Self {
        let max_delay = rows.first().map_or(0, Vec::len);
        Payoffs { arms: rows.len(), max_delay, table: rows.concat() }
    }

    pub fn arms(&self) -> usize {
        self.arms
    }

    /// τ_max: the delay at which every arm is fully recharged.
    pub fn max_delay(&self) -> usize {
        self.max_delay
    }

    /// p_arm(delay) for `delay` in 1..=max_delay (a larger delay reads as max_delay).
    #[inline(always)]
    pub fn get(&self, arm: usize, delay: usize) -> f64 {
        self.table[arm * self.max_delay + delay.min(self.max_delay) - 1]
    }

    /// p_arm(1..=max_delay).
    pub fn row(&self, arm: usize) -> &[f64] {
        &self.table[arm * self.max_delay..(arm + 1) * self.max_delay]
    }

    /// Every row, for writing the table back out.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.arms).map(|i| self.row(i).to_vec()).collect()
    }
}

/// The number of τ-states reachable from the start state (every arm at max_delay). After the
/// first round, the arms not fully recharged were last played at distinct past rounds, so their
/// delays are distinct values in 1..max_delay − 1, and the arm played last has delay 1: choose
/// j such arms, which of them has delay 1, and distinct delays 2..max_delay − 1 for the others.
pub fn reachable_states(arms: usize, max_delay: usize) -> f64 {
    if max_delay <= 1 {
        return 1.0;
    }
    let rest = (max_delay - 2) as f64;
    let (mut total, mut choose, mut falling) = (1.0, 1.0, 1.0);
    for j in 1..=arms.min(max_delay - 1) {
        choose *= (arms - j + 1) as f64 / j as f64;
        total += choose * j as f64 * falling;
        falling *= rest - (j - 1) as f64;
    }
    total
}

/// The τ-states reachable from the start state (every arm at max_delay) and the deterministic
/// transitions between them. State 0 is the start state.
#[derive(Debug)]
pub struct Graph {
    arms: usize,
    /// τ of every arm in every state, state-major.
    tau: Vec<u8>,
    /// The state after playing each arm, state-major.
    next: Vec<u32>,
}

impl Graph {
    /// Enumerates the reachable states by breadth-first search; `None` when there would be more
    /// than [`DP_MAX_STATES`] or more than [`DP_MAX_ARMS`] arms.
    pub fn build(arms: usize, max_delay: usize) -> Option<Graph> {
        if arms == 0 || arms > DP_MAX_ARMS || reachable_states(arms, max_delay) > DP_MAX_STATES as f64 {
            return None;
        }
        let cap = max_delay as u8;
        let key = |t: &[u8]| t.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x));
        let mut tau: Vec<u8> = vec![cap; arms];
        let mut index: HashMap<u128, u32> = HashMap::from([(key(&tau), 0)]);
        let mut queue = VecDeque::from([0u32]);
        let mut next: Vec<u32> = Vec::new();
        let mut succ = vec![0u8; arms];
        while let Some(s) = queue.pop_front() {
            // States are numbered in discovery order, so `next` fills row by row.
            debug_assert_eq!(next.len(), s as usize * arms);
            for a in 0..arms {
                let from = &tau[s as usize * arms..(s as usize + 1) * arms];
                for (n, &t) in succ.iter_mut().zip(from) {
                    *n = (t + 1).min(cap);
                }
                succ[a] = 1.min(cap);
                let id = *index.entry(key(&succ)).or_insert_with(|| {
                    let id = (tau.len() / arms) as u32;
                    tau.extend_from_slice(&succ);
                    queue.push_back(id);
                    id
                });
                next.push(id);
            }
        }
        Some(Graph { arms, tau, next })
    }

    pub fn states(&self) -> usize {
        self.tau.len() / self.arms
    }

    /// τ of every arm in state `s`.
    #[cfg(test)]
    pub fn tau(&self, s: u32) -> &[u8] {
        &self.tau[s as usize * self.arms..(s as usize + 1) * self.arms]
    }

    /// The state after playing `arm` in state `s`.
    #[inline(always)]
    pub fn next(&self, s: u32, arm: usize) -> u32 {
        self.next[s as usize * self.arms + arm]
    }

    /// The expected reward of every (state, arm) under `pay`, state-major.
    pub fn rewards(&self, pay: &Payoffs) -> Vec<f64> {
        self.tau
            .chunks_exact(self.arms)
            .flat_map(|t| t.iter().enumerate().map(|(a, &d)| pay.get(a, d as usize)))
            .collect()
    }

    /// The largest horizon whose table fits [`DP_MAX_ENTRIES`].
    pub fn max_horizon(&self) -> u64 {
        DP_MAX_ENTRIES / self.states() as u64
    }
}

/// The finite-horizon optimum: for every steps-to-go h in 1..=horizon and state s, the best
/// action and the set of actions within a relative 1e-11 of the best value (ties up to
/// floating-point round-off).
#[derive(Debug)]
pub struct Plan {
    pub horizon: u64,
    states: usize,
    entries: Vec<u16>,
    /// V_horizon(start): the best expected total reward over `horizon` steps.
    pub value: f64,
}

impl Plan {
    /// Backward induction V_h(s) = max_a r(s, a) + V_{h−1}(next(s, a)), V_0 = 0, with
    /// `rewards` from [`Graph::rewards`]. The caller keeps states × horizon within
    /// [`DP_MAX_ENTRIES`].
    pub fn solve(graph: &Graph, rewards: &[f64], horizon: u64) -> Plan {
        let (k, n) = (graph.arms, graph.states());
        let mut entries = vec![0u16; n * horizon as usize];
        let mut prev = vec![0.0f64; n];
        let mut cur = vec![0.0f64; n];
        for h in 0..horizon as usize {
            let out = &mut entries[h * n..(h + 1) * n];
            for s in 0..n {
                let r = &rewards[s * k..(s + 1) * k];
                let nx = &graph.next[s * k..(s + 1) * k];
                let mut best = f64::NEG_INFINITY;
                let mut arg = 0;
                for a in 0..k {
                    let q = r[a] + prev[nx[a] as usize];
                    if q > best {
                        best = q;
                        arg = a;
                    }
                }
                let tol = 1e-11 * (1.0 + best.abs());
                let mut mask = 0u16;
                for a in 0..k {
                    if r[a] + prev[nx[a] as usize] >= best - tol {
                        mask |= 1 << a;
                    }
                }
                out[s] = mask | ((arg as u16) << ARGMAX_SHIFT);
                cur[s] = best;
            }
            std::mem::swap(&mut prev, &mut cur);
        }
        Plan { horizon, states: n, entries, value: if horizon == 0 { 0.0 } else { prev[0] } }
    }

    /// The entry for `steps_left` (1..=horizon) steps to go in state `s`.
    #[inline(always)]
    fn entry(&self, steps_left: u64, s: u32) -> u16 {
        self.entries[(steps_left as usize - 1) * self.states + s as usize]
    }

    /// The optimal action (the first exact argmax) with `steps_left` steps to go in state `s`.
    #[inline(always)]
    pub fn action(&self, steps_left: u64, s: u32) -> usize {
        (self.entry(steps_left, s) >> ARGMAX_SHIFT) as usize
    }

    /// Whether `arm` is optimal (within tolerance) with `steps_left` steps to go in state `s`.
    #[inline(always)]
    pub fn is_optimal(&self, steps_left: u64, s: u32, arm: usize) -> bool {
        (self.entry(steps_left, s) & OPTIMAL_MASK) >> arm & 1 == 1
    }
}

/// The LP relaxation: x_{i,d} ≥ 0 is the share of time arm i spends in a cycle of gap d;
/// maximise Σ x_{i,d} p_i(d)/d subject to Σ_d x_{i,d} ≤ 1 for every arm and
/// Σ_{i,d} x_{i,d}/d ≤ 1 (one play per round).
///
/// It bounds every policy: if n_{i,d} plays of arm i come after a delay of d (capped at
/// τ_max) in T rounds from the start state, the gaps of arm i add up to at most T + τ_max − 1
/// (the first play counts τ_max), so x_{i,d} = d·n_{i,d}/(T + τ_max − 1) is feasible and
/// the total expected reward is at most (T + τ_max − 1)·LP.
#[derive(Clone, Debug, PartialEq)]
pub struct LpRelaxation {
    pub value: f64,
    max_delay: usize,
    /// x_{i,d}, arm-major, d = 1..=max_delay.
    x: Vec<f64>,
}

impl LpRelaxation {
    /// Solves the LP with microlp; the error is the solver's message.
    pub fn solve(pay: &Payoffs) -> Result<Self, String> {
        let (k, dmax) = (pay.arms(), pay.max_delay());
        let mut lp = Problem::new(OptimizationDirection::Maximize);
        let vars: Vec<_> = (0..k)
            .flat_map(|i| (1..=dmax).map(move |d| (i, d)))
            .map(|(i, d)| lp.add_var(pay.get(i, d) / d as f64, (0.0, 1.0)))
            .collect();
        for i in 0..k {
            let row: Vec<_> = (0..dmax).map(|j| (vars[i * dmax + j], 1.0)).collect();
            lp.add_constraint(&row[..], ComparisonOp::Le, 1.0);
        }
        let rate: Vec<_> = vars.iter().enumerate().map(|(v, &x)| (x, 1.0 / (v % dmax + 1) as f64)).collect();
        lp.add_constraint(&rate[..], ComparisonOp::Le, 1.0);
        let solution = lp
            .solve()
            .map_err(|e| e.to_string())?
            .into_solution()
            .map_err(|_| "the LP solve stopped early".to_string())?;
        let x = vars.iter().map(|&v| solution.var_value(v).max(0.0)).collect();
        Ok(LpRelaxation { value: solution.objective(), max_delay: dmax, x })
    }

    /// x_{arm,delay}.
    pub fn x(&self, arm: usize, delay: usize) -> f64 {
        self.x[arm * self.max_delay + delay - 1]
    }

    /// x_{arm,1..=max_delay}.
    pub fn row(&self, arm: usize) -> &[f64] {
        &self.x[arm * self.max_delay..(arm + 1) * self.max_delay]
    }

    /// Σ_d x_{arm,d}/d: the probability that the rounding schedules a play of `arm` in a given
    /// round.
    pub fn request_rate(&self, arm: usize) -> f64 {
        self.row(arm).iter().enumerate().map(|(j, x)| x / (j + 1) as f64).sum()
    }

    /// An upper bound on the best expected reward over the first `steps` rounds from the start
    /// state: (steps + τ_max − 1)·LP (see the type's doc).
    pub fn bound(&self, steps: u64) -> f64 {
        if steps == 0 { 0.0 } else { (steps + self.max_delay as u64 - 1) as f64 * self.value }
    }
}

/// Weighted pool-adjacent-violators: the non-decreasing fit to `means` (weights `counts`),
/// with delays never observed filled from the nearest observed smaller delay (else the
/// nearest larger one, else 0).
pub fn monotone_fit(means: &[f64], counts: &[u64]) -> Vec<f64> {
    // Blocks of (mean, weight, length) over the observed delays, in order.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(means.len());
    let observed: Vec<usize> = (0..means.len()).filter(|&d| counts[d] > 0).collect();
    for &d in &observed {
        blocks.push((means[d], counts[d] as f64, 1));
        while blocks.len() >= 2 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (m2, w2, l2) = blocks.pop().unwrap_or_default();
            let last = blocks.last_mut().expect("two blocks");
            let w = last.1 + w2;
            *last = ((last.0 * last.1 + m2 * w2) / w, w, last.2 + l2);
        }
    }
    let mut fitted = vec![f64::NAN; means.len()];
    let mut it = observed.iter();
    for &(m, _, len) in &blocks {
        for &d in it.by_ref().take(len) {
            fitted[d] = m;
        }
    }
    let first = observed.first().map_or(0.0, |&d| fitted[d]);
    let mut carry = first;
    for f in &mut fitted {
        if f.is_nan() {
            *f = carry;
        } else {
            carry = *f;
        }
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(rows: &[&[f64]]) -> Payoffs {
        Payoffs::from_rows(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>())
    }

    #[test]
    fn reachable_states_match_the_bound_and_the_dynamics() {
        for (k, d) in [(1, 1), (1, 4), (2, 3), (3, 4), (4, 6), (5, 3)] {
            let g = Graph::build(k, d).unwrap();
            assert_eq!(g.states() as f64, reachable_states(k, d), "k={k} d={d}");
            for s in 0..g.states() as u32 {
                for a in 0..k {
                    let (from, to) = (g.tau(s), g.tau(g.next(s, a)));
                    for i in 0..k {
                        let want = if i == a { 1 } else { (from[i] + 1).min(d as u8) };
                        assert_eq!(to[i], want.min(d as u8));
                    }
                }
            }
        }
        assert_eq!(Graph::build(4, 6).unwrap().states(), 293);
        assert!(Graph::build(13, 2).is_none(), "more arms than the mask holds");
    }

    #[test]
    fn plan_of_one_step_is_the_best_immediate_payoff() {
        let p = pay(&[&[0.1, 0.5], &[0.3, 0.4]]);
        let g = Graph::build(2, 2).unwrap();
        let plan = Plan::solve(&g, &g.rewards(&p), 1);
        assert_eq!(plan.action(1, 0), 0);
        assert!((plan.value - 0.5).abs() < 1e-15);
        assert!(plan.is_optimal(1, 0, 0) && !plan.is_optimal(1, 0, 1));
    }

    #[test]
    fn lp_of_one_arm_plays_its_best_rate() {
        // p(d)/d is 0.2, 0.2, 0.3: the arm cycles with gap 3 (x = 1, rate 1/3).
        let lp = LpRelaxation::solve(&pay(&[&[0.2, 0.4, 0.9]])).unwrap();
        assert!((lp.value - 0.3).abs() < 1e-9, "{}", lp.value);
        assert!((lp.x(0, 3) - 1.0).abs() < 1e-9);
        assert!((lp.request_rate(0) - 1.0 / 3.0).abs() < 1e-9);
        assert!((lp.bound(1) - 0.9).abs() < 1e-9);
    }

    #[test]
    fn monotone_fit_pools_violators_and_fills_gaps() {
        let fit = monotone_fit(&[0.5, 0.3, 0.0, 0.9], &[1, 3, 0, 2]);
        // 0.5 (weight 1) and 0.3 (weight 3) pool to 0.35; the unseen delay copies its left.
        for (f, want) in fit.iter().zip([0.35, 0.35, 0.35, 0.9]) {
            assert!((f - want).abs() < 1e-12, "{fit:?}");
        }
        assert_eq!(monotone_fit(&[0.0, 0.7], &[0, 4]), vec![0.7, 0.7]);
        assert_eq!(monotone_fit(&[0.0, 0.0], &[0, 0]), vec![0.0, 0.0]);
    }
}
