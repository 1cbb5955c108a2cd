//! The two benchmarks of the restless family: the exact finite-horizon DP over the joint state
//! ([`Dp`]), and for instances too large for it, the Lagrangian (Whittle) relaxation bound
//! ([`lagrangian_bound`]).
//!
//! Both produce a per-step curve: the expected reward at each step of an episode of the policy
//! that attains the benchmark (the DP-optimal policy, or the relaxed per-arm policies), which sums
//! to the benchmark's value from the start state.

use super::instance::{Instance, Tables};

/// Most (joint states × actions) one DP step may visit: S^N × Σ_{i≤B} C(N, i).
pub const STEP_CAP: u64 = 1 << 23;
/// Most (episode × joint states) entries of the DP's value and action tables (12 bytes each:
/// 48 MiB).
pub const TABLE_CAP: u64 = 1 << 22;

/// Σ_{i=0..=B} C(N, i): the number of sets of at most B of N arms (saturating).
pub fn action_count(arms: usize, budget: usize) -> u64 {
    let (mut c, mut total) = (1u64, 1u64);
    for i in 1..=budget.min(arms) {
        // C(N, i) = C(N, i − 1)·(N − i + 1)/i, exact in integers.
        c = c.saturating_mul((arms - i + 1) as u64) / i as u64;
        total = total.saturating_add(c);
    }
    total
}

/// S^N (saturating).
pub fn joint_count(arms: usize, states: usize) -> u64 {
    (0..arms).fold(1u64, |acc, _| acc.saturating_mul(states as u64))
}

/// Why the DP cannot serve an instance, or `Ok` when it can.
pub fn dp_feasible(arms: usize, states: usize, budget: usize, episode: Option<u64>) -> Result<(), String> {
    let joint = joint_count(arms, states);
    let actions = action_count(arms, budget);
    let Some(episode) = episode else {
        return Err(
            "the exact DP covers one episode: set `episode` (episode = horizon for a run without resets)".into()
        );
    };
    if joint.saturating_mul(actions) > STEP_CAP {
        return Err(format!(
            "states^arms × actions = {states}^{arms} × {actions} exceeds the DP cap {STEP_CAP}: use fewer arms, \
             states or a smaller budget, or benchmark = \"lagrangian\""
        ));
    }
    if episode.saturating_mul(joint) > TABLE_CAP {
        return Err(format!(
            "episode × states^arms = {episode} × {joint} exceeds the DP table cap {TABLE_CAP}: shorten the episode \
             or use benchmark = \"lagrangian\""
        ));
    }
    Ok(())
}

/// Below this stride a digit's fibers are handled one at a time (a small matrix-vector product
/// each); from it on, whole contiguous runs of the other digits are updated at once.
const SHORT_STRIDE: usize = 16;

/// out[…, x, …] = Σ_y M[x][y]·in[…, y, …] on the digit of stride `stride` (an arm's state).
fn apply_digit(input: &[f64], out: &mut [f64], m: &[f64], s: usize, stride: usize) {
    let block = stride * s;
    if stride < SHORT_STRIDE {
        for (ib, ob) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            for i in 0..stride {
                for x in 0..s {
                    let row = &m[x * s..(x + 1) * s];
                    ob[x * stride + i] = (0..s).map(|y| row[y] * ib[y * stride + i]).sum();
                }
            }
        }
        return;
    }
    for (ib, ob) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        for x in 0..s {
            let o = &mut ob[x * stride..(x + 1) * stride];
            o.fill(0.0);
            for y in 0..s {
                let p = m[x * s + y];
                if p != 0.0 {
                    for (a, b) in o.iter_mut().zip(&ib[y * stride..(y + 1) * stride]) {
                        *a += p * b;
                    }
                }
            }
        }
    }
}

/// out[…, y, …] += Σ_x M[x][y]·in[…, x, …]: the transpose of [`apply_digit`], accumulated.
fn apply_digit_transposed_add(input: &[f64], out: &mut [f64], m: &[f64], s: usize, stride: usize) {
    let block = stride * s;
    if stride < SHORT_STRIDE {
        for (ib, ob) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
            for i in 0..stride {
                for y in 0..s {
                    ob[y * stride + i] += (0..s).map(|x| m[x * s + y] * ib[x * stride + i]).sum::<f64>();
                }
            }
        }
        return;
    }
    for (ib, ob) in input.chunks_exact(block).zip(out.chunks_exact_mut(block)) {
        for x in 0..s {
            let i = &ib[x * stride..(x + 1) * stride];
            for y in 0..s {
                let p = m[x * s + y];
                if p != 0.0 {
                    for (a, b) in ob[y * stride..(y + 1) * stride].iter_mut().zip(i) {
                        *a += p * b;
                    }
                }
            }
        }
    }
}

/// out[i] = Σ_y row[y]·input[y·len + i] for i < len: contracts the most significant digit of
/// `input` (S·len entries) with one transition row.
fn contract_top(input: &[f64], row: &[f64], out: &mut [f64]) {
    let len = out.len();
    out.fill(0.0);
    for (y, &p) in row.iter().enumerate() {
        if p != 0.0 {
            for (o, v) in out.iter_mut().zip(&input[y * len..(y + 1) * len]) {
                *o += p * v;
            }
        }
    }
}

/// The exact optimum over one episode: V_h(s), the best expected reward over the last h steps
/// from joint state s, for h = 1..=length, and a maximising action for each (h, s).
///
/// Backward induction V_h(s) = max_{|a| ≤ B} E[R(s') + V_{h−1}(s') | s, a] with R(s') = Σ_j r_j(s'_j).
/// For a fixed action the expectation is a Kronecker product of the arms' matrices applied to
/// U = R + V_{h−1}, one digit (arm) at a time; a depth-first walk over the arms shares the
/// contractions of a common prefix of the action, so a step costs about
/// (nodes of the walk) × S^(N+1) multiply-adds, the nodes being the prefixes with at most B pulls.
#[derive(Debug)]
pub struct Dp {
    arms: usize,
    states: usize,
    budget: usize,
    joint: usize,
    length: usize,
    /// V_h(s) at `(h − 1)·joint + s`.
    values: Vec<f64>,
    /// A maximising action (bit j = arm j pulled) at `(h − 1)·joint + s`; among ties the first
    /// in the walk's order (arm 0 resting before arm 0 pulled, and so on).
    best: Vec<u32>,
    strides: Vec<usize>,
}

/// Scratch for [`Dp::q_value`] (two buffers of S^(N−1)).
pub struct QScratch {
    a: Vec<f64>,
    b: Vec<f64>,
}

impl Dp {
    /// Solves an episode of `length` steps. The caller checks [`dp_feasible`] first.
    pub fn solve(inst: &Instance, length: usize) -> Dp {
        let (n, s) = (inst.arms, inst.states);
        let joint = inst.joint_states().expect("dp_feasible caps the joint state space");
        let strides: Vec<usize> = (0..n).map(|j| s.pow(j as u32)).collect();
        let mut dp = Dp {
            arms: n,
            states: s,
            budget: inst.budget,
            joint,
            length,
            values: vec![0.0; length * joint],
            best: vec![0; length * joint],
            strides,
        };
        // R(s') = Σ_j r_j(s'_j).
        let mut reward = vec![0.0; joint];
        for (idx, r) in reward.iter_mut().enumerate() {
            let mut rest = idx;
            for j in 0..n {
                *r += inst.rewards[j * s + rest % s];
                rest /= s;
            }
        }
        let mut bufs: Vec<Vec<f64>> = (0..=n).map(|_| vec![0.0; joint]).collect();
        for h in 1..=length {
            if h == 1 {
                bufs[0].copy_from_slice(&reward);
            } else {
                let prev = &dp.values[(h - 2) * joint..(h - 1) * joint];
                for ((u, r), v) in bufs[0].iter_mut().zip(&reward).zip(prev) {
                    *u = r + v;
                }
            }
            let at = (h - 1) * joint;
            let mut cur = vec![f64::NEG_INFINITY; joint];
            let mut best = vec![0u32; joint];
            dp.backward(inst, 0, 0, 0, &mut bufs, &mut cur, &mut best);
            dp.values[at..at + joint].copy_from_slice(&cur);
            dp.best[at..at + joint].copy_from_slice(&best);
        }
        dp
    }

    /// The walk over arms k.. with `mask` holding the choices for arms < k (`used` pulls).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        inst: &Instance,
        k: usize,
        mask: u32,
        used: usize,
        bufs: &mut [Vec<f64>],
        cur: &mut [f64],
        best: &mut [u32],
    ) {
        if k == self.arms {
            for ((c, b), &q) in cur.iter_mut().zip(best.iter_mut()).zip(&bufs[k]) {
                if q > *c {
                    *c = q;
                    *b = mask;
                }
            }
            return;
        }
        for pull in [false, true] {
            if pull && used == self.budget {
                break;
            }
            {
                let (lo, hi) = bufs.split_at_mut(k + 1);
                apply_digit(&lo[k], &mut hi[0], inst.matrix(k, pull), self.states, self.strides[k]);
            }
            let child = mask | (u32::from(pull) << k);
            self.backward(inst, k + 1, child, used + usize::from(pull), bufs, cur, best);
        }
    }

    /// Steps per episode the tables cover.
    pub fn length(&self) -> usize {
        self.length
    }

    /// V_h(s): the best expected reward over h remaining steps from joint state s (0 for h = 0).
    #[inline]
    pub fn value(&self, h: usize, joint: usize) -> f64 {
        if h == 0 { 0.0 } else { self.values[(h - 1) * self.joint + joint] }
    }

    /// A maximising action with h steps to go at joint state s (bit j: arm j pulled).
    #[inline]
    pub fn best(&self, h: usize, joint: usize) -> u32 {
        self.best[(h - 1) * self.joint + joint]
    }

    /// Fresh scratch for [`Dp::q_value`].
    pub fn scratch(&self) -> QScratch {
        let len = (self.joint / self.states).max(1);
        QScratch { a: vec![0.0; len], b: vec![0.0; len] }
    }

    /// Q_h(s, a) = Σ_j ρ_j(s_j, a_j) + E[V_{h−1}(s') | s, a]: the value of playing `mask` now and
    /// optimally after. The expectation contracts V_{h−1} one arm at a time, the most
    /// significant digit first (about S^N multiply-adds).
    pub fn q_value(
        &self,
        tables: &Tables,
        inst: &Instance,
        h: usize,
        states: &[usize],
        mask: u32,
        scratch: &mut QScratch,
    ) -> f64 {
        let s = self.states;
        let pulled = |j: usize| mask >> j & 1 == 1;
        let immediate: f64 = states.iter().enumerate().map(|(j, &x)| tables.rho(s, j, x, pulled(j))).sum();
        if h <= 1 {
            return immediate;
        }
        let v = &self.values[(h - 2) * self.joint..(h - 1) * self.joint];
        let mut len = self.joint / s;
        let last = self.arms - 1;
        contract_top(v, inst.row(last, pulled(last), states[last]), &mut scratch.a[..len]);
        for j in (0..last).rev() {
            let next = len / s;
            contract_top(&scratch.a[..len], inst.row(j, pulled(j), states[j]), &mut scratch.b[..next]);
            std::mem::swap(&mut scratch.a, &mut scratch.b);
            len = next;
        }
        immediate + scratch.a[0]
    }

    /// The optimal policy's expected reward at each step of an episode of `steps` ≤ length
    /// steps from the start state (it plays the `steps`-to-go tables). Sums to V_steps(start).
    ///
    /// The state distribution is pushed forward by the transpose of the backward walk: each
    /// action's share of the distribution (the states where it is the chosen action) is carried
    /// through the arms' matrices, sharing prefixes, and walks that lead to no chosen action are
    /// skipped.
    pub fn curve(&self, tables: &Tables, inst: &Instance, steps: usize) -> Vec<f64> {
        assert!(steps <= self.length, "curve of {steps} steps from a DP of {}", self.length);
        let (n, s, joint) = (self.arms, self.states, self.joint);
        let mut dist = vec![0.0; joint];
        dist[inst.joint_index(&inst.start)] = 1.0;
        let mut bufs: Vec<Vec<f64>> = (0..=n).map(|_| vec![0.0; joint]).collect();
        let mut out = Vec::with_capacity(steps);
        for tau in 0..steps {
            let h = steps - tau;
            let best = &self.best[(h - 1) * joint..h * joint];
            let mut step = 0.0;
            let mut chosen: Vec<u32> = Vec::new();
            for (idx, &d) in dist.iter().enumerate() {
                if d == 0.0 {
                    continue;
                }
                let mask = best[idx];
                chosen.push(mask);
                let mut rest = idx;
                for j in 0..n {
                    step += d * tables.rho(s, j, rest % s, mask >> j & 1 == 1);
                    rest /= s;
                }
            }
            out.push(step);
            if tau + 1 < steps {
                chosen.sort_unstable();
                chosen.dedup();
                self.forward(inst, 0, 0, 0, &mut bufs, &dist, best, &chosen);
                dist.copy_from_slice(&bufs[0]);
            }
        }
        out
    }

    /// Accumulates in `bufs[k]` the next-state mass of every chosen action extending `mask`
    /// (whose arms < k are fixed).
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        inst: &Instance,
        k: usize,
        mask: u32,
        used: usize,
        bufs: &mut [Vec<f64>],
        dist: &[f64],
        best: &[u32],
        chosen: &[u32],
    ) {
        if k == self.arms {
            for ((o, &d), &b) in bufs[k].iter_mut().zip(dist).zip(best) {
                *o = if b == mask { d } else { 0.0 };
            }
            return;
        }
        bufs[k].fill(0.0);
        let low = if k + 1 >= 32 { u32::MAX } else { (1u32 << (k + 1)) - 1 };
        for pull in [false, true] {
            if pull && used == self.budget {
                break;
            }
            let child = mask | (u32::from(pull) << k);
            if !chosen.iter().any(|&c| c & low == child) {
                continue;
            }
            self.forward(inst, k + 1, child, used + usize::from(pull), bufs, dist, best, chosen);
            let (lo, hi) = bufs.split_at_mut(k + 1);
            apply_digit_transposed_add(&hi[0], &mut lo[k], inst.matrix(k, pull), self.states, self.strides[k]);
        }
    }
}

/// The Lagrangian (Whittle) relaxation of one episode: the per-step budget Σ_j a_j ≤ B is
/// replaced by its sum over the episode, priced at λ per pull, which splits the problem into
/// single-arm DPs.
#[derive(Clone, Debug, PartialEq)]
pub struct Relaxation {
    /// min_λ≥0 λ·B·L + Σ_j V_j(λ): an upper bound on the optimum.
    pub value: f64,
    /// The minimising charge per pull.
    pub lambda: f64,
    /// λ·B + Σ_j E[ρ_j − λ·a_j] at each step under the relaxed per-arm policies; sums to `value`.
    pub per_step: Vec<f64>,
}

/// Golden-section steps of the search for λ (the dual is convex in λ; 80 steps shrink the
/// bracket by 0.618^80 ≈ 2·10⁻¹⁷).
const GOLDEN_STEPS: usize = 80;

/// The Lagrangian bound over an episode of `length` steps from the start state:
/// min over λ ≥ 0 of λ·B·L + Σ_j V_j(λ), where V_j(λ) is arm j's best expected reward over L
/// steps alone, paying λ per pull. Every λ ≥ 0 gives an upper bound on the optimum (weak
/// duality); the minimum is found by golden-section search on [0, L·max_j(range of r_j)], beyond
/// which no pull can pay for itself.
pub fn lagrangian_bound(inst: &Instance, tables: &Tables, length: usize) -> Relaxation {
    let spread = (0..inst.arms)
        .map(|j| {
            let r = inst.state_rewards(j);
            r.iter().copied().fold(f64::NEG_INFINITY, f64::max) - r.iter().copied().fold(f64::INFINITY, f64::min)
        })
        .fold(0.0, f64::max);
    let mut scratch = vec![0.0; 2 * inst.states];
    let mut dual = |lambda: f64| {
        let arms: f64 = (0..inst.arms).map(|j| arm_value(inst, tables, j, lambda, length, &mut scratch, None)).sum();
        lambda * inst.budget as f64 * length as f64 + arms
    };
    let (mut best_lambda, mut best_value) = (0.0, dual(0.0));
    let (mut lo, mut hi) = (0.0, spread * length as f64);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (hi - ratio * (hi - lo), lo + ratio * (hi - lo));
    let (mut f1, mut f2) = (dual(x1), dual(x2));
    for _ in 0..GOLDEN_STEPS {
        for (x, f) in [(x1, f1), (x2, f2)] {
            if f < best_value {
                (best_lambda, best_value) = (x, f);
            }
        }
        if f1 <= f2 {
            hi = x2;
            (x2, f2) = (x1, f1);
            x1 = hi - ratio * (hi - lo);
            f1 = dual(x1);
        } else {
            lo = x1;
            (x1, f1) = (x2, f2);
            x2 = lo + ratio * (hi - lo);
            f2 = dual(x2);
        }
    }
    for (x, f) in [(x1, f1), (x2, f2)] {
        if f < best_value {
            (best_lambda, best_value) = (x, f);
        }
    }
    let mut per_step = vec![best_lambda * inst.budget as f64; length];
    for j in 0..inst.arms {
        arm_value(inst, tables, j, best_lambda, length, &mut scratch, Some(&mut per_step));
    }
    Relaxation { value: best_value, lambda: best_lambda, per_step }
}

/// Arm j's best expected reward over `length` steps from its start state when each pull costs
/// `lambda`. With `per_step`, also adds the arm's expected (reward − λ·pull) at each step under
/// that policy (ties: rest).
fn arm_value(
    inst: &Instance,
    tables: &Tables,
    j: usize,
    lambda: f64,
    length: usize,
    scratch: &mut [f64],
    per_step: Option<&mut Vec<f64>>,
) -> f64 {
    let s = inst.states;
    let (v, next) = scratch.split_at_mut(s);
    v.fill(0.0);
    let (p0, p1) = (inst.matrix(j, false), inst.matrix(j, true));
    // Decisions per (h, x), kept only when the per-step curve is wanted.
    let mut act = if per_step.is_some() { vec![false; length * s] } else { Vec::new() };
    for h in 1..=length {
        for x in 0..s {
            let (mut e0, mut e1) = (0.0, 0.0);
            for y in 0..s {
                e0 += p0[x * s + y] * v[y];
                e1 += p1[x * s + y] * v[y];
            }
            let rest = tables.rho(s, j, x, false) + e0;
            let pull = tables.rho(s, j, x, true) - lambda + e1;
            next[x] = rest.max(pull);
            if !act.is_empty() {
                act[(h - 1) * s + x] = pull > rest;
            }
        }
        v.copy_from_slice(next);
    }
    let value = v[inst.start[j]];
    if let Some(curve) = per_step {
        let mut dist = vec![0.0; s];
        let mut moved = vec![0.0; s];
        dist[inst.start[j]] = 1.0;
        for (tau, c) in curve.iter_mut().enumerate() {
            let h = length - tau;
            moved.fill(0.0);
            for x in 0..s {
                if dist[x] == 0.0 {
                    continue;
                }
                let pull = act[(h - 1) * s + x];
                *c += dist[x] * (tables.rho(s, j, x, pull) - if pull { lambda } else { 0.0 });
                let m = if pull { p1 } else { p0 };
                for y in 0..s {
                    moved[y] += dist[x] * m[x * s + y];
                }
            }
            dist.copy_from_slice(&moved);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_counts_are_binomial_sums() {
        assert_eq!(action_count(8, 3), 1 + 8 + 28 + 56);
        assert_eq!(action_count(2, 1), 3);
        assert_eq!(action_count(3, 5), 8);
        assert_eq!(joint_count(8, 4), 65_536);
    }

    #[test]
    fn the_curve_sums_to_the_value_and_the_bound_is_above_it() {
        let inst = Instance::random(5, 3, 2, 4);
        let tables = Tables::new(&inst);
        let dp = Dp::solve(&inst, 12);
        let start = inst.joint_index(&inst.start);
        for steps in [1, 5, 12] {
            let curve = dp.curve(&tables, &inst, steps);
            let total: f64 = curve.iter().sum();
            assert!((total - dp.value(steps, start)).abs() < 1e-9 * total.abs().max(1.0), "{total}");
            let bound = lagrangian_bound(&inst, &tables, steps);
            assert!(bound.value >= dp.value(steps, start) - 1e-9, "{} < {}", bound.value, dp.value(steps, start));
            let sum: f64 = bound.per_step.iter().sum();
            assert!((sum - bound.value).abs() < 1e-9 * sum.abs().max(1.0));
        }
        // Q of the stored best action is the value.
        let mut scratch = dp.scratch();
        let states = [1, 0, 2, 2, 0];
        let idx = inst.joint_index(&states);
        for h in 1..=12 {
            let q = dp.q_value(&tables, &inst, h, &states, dp.best(h, idx), &mut scratch);
            assert!((q - dp.value(h, idx)).abs() < 1e-9, "h {h}: {q} vs {}", dp.value(h, idx));
        }
    }

    #[test]
    fn with_budget_for_every_arm_the_bound_is_exact() {
        // B = N: no constraint binds, λ* = 0 and the relaxation is the optimum.
        let mut inst = Instance::random(4, 3, 4, 8);
        inst.budget = 4;
        let tables = Tables::new(&inst);
        let dp = Dp::solve(&inst, 6);
        let bound = lagrangian_bound(&inst, &tables, 6);
        let v = dp.value(6, inst.joint_index(&inst.start));
        assert!((bound.value - v).abs() < 1e-9, "{} vs {v}", bound.value);
    }
}
