//! The recharging family's own policies, as [`Chooser`]s the run loop drives: three planners
//! that know the payoffs (greedy, LP rounding, the DP optimum), the online learner
//! explore-then-commit, and [`Blind`], which lets a classic policy play without seeing the
//! delays.

use super::oracle::{Graph, LpRelaxation, Payoffs, Plan, monotone_fit};
use crate::family::Measure;
use crate::policy::Policy;
use crate::rng::{self, Stream};
use std::sync::Arc;

/// What a chooser sees before a round.
pub(super) struct View<'a> {
    /// τ of every arm (1..=max_delay).
    pub tau: &'a [u8],
    /// The index of the current state in the reachable-state graph (0 when there is none).
    pub state: u32,
    /// Rounds left, this one included (≥ 1).
    pub steps_left: u64,
}

/// A decision-maker in the run loop: choose an arm, then observe its reward (and the delay
/// it was played at).
pub(super) trait Chooser {
    fn choose(&mut self, view: &View, rng: &mut Stream) -> usize;
    fn observe(&mut self, arm: usize, delay: usize, reward: f64, rng: &mut Stream);
    /// Numbers this chooser reports beyond the family's (in a fixed order).
    fn measures(&self) -> Vec<Measure> {
        Vec::new()
    }
}

/// A classic policy, blind to the delays: it sees arms and rewards only.
pub(super) struct Blind<'p, P: Policy>(pub &'p mut P);

impl<P: Policy> Chooser for Blind<'_, P> {
    #[inline]
    fn choose(&mut self, _view: &View, rng: &mut Stream) -> usize {
        self.0.select(rng)
    }
    #[inline]
    fn observe(&mut self, arm: usize, _delay: usize, reward: f64, rng: &mut Stream) {
        self.0.update(arm, reward, rng);
    }
}

/// `recharging-greedy`: the arm with the largest payoff now, argmax_i p_i(τ_i) (ties at random).
pub(super) struct Greedy {
    pub payoffs: Payoffs,
}

impl Chooser for Greedy {
    #[inline]
    fn choose(&mut self, view: &View, rng: &mut Stream) -> usize {
        let (pay, tau) = (&self.payoffs, view.tau);
        rng::argmax_by(rng, tau.len(), |i| pay.get(i, tau[i] as usize))
    }
    fn observe(&mut self, _: usize, _: usize, _: f64, _: &mut Stream) {}
}

/// `recharging-optimal`: the DP's action. With fewer planned steps than the run has, it plans
/// for min(steps left, plan horizon) steps.
pub(super) struct Optimal {
    pub plan: Arc<Plan>,
}

impl Chooser for Optimal {
    #[inline]
    fn choose(&mut self, view: &View, _rng: &mut Stream) -> usize {
        self.plan.action(view.steps_left.min(self.plan.horizon), view.state)
    }
    fn observe(&mut self, _: usize, _: usize, _: f64, _: &mut Stream) {}
}

/// `recharging-lp`: randomised rounding of the LP relaxation.
///
/// Once per run, every arm i draws a gap d with probability x_{i,d} (no gap with probability
/// 1 − Σ_d x_{i,d}) and an offset uniform in 0..d; it then requests the rounds t ≡ offset
/// (mod d). A round with several requests goes to one of them by the fair contention
/// resolution of Feige & Vondrák (2006): requester i wins with probability
/// (Σ_{j∈R∖i} q_j/(|R|−1) + Σ_{j∉R} q_j/|R|)/Σ_j q_j, where q_j = Σ_d x_{j,d}/d is j's request
/// rate; a lone requester always wins. Each request then wins with probability at least
/// (1 − Π_j(1 − q_j))/Σ_j q_j ≥ 1 − 1/e, and a winning request of gap d finds τ ≥ d, so
/// each round pays at least (1 − 1/e)·LP in expectation — as long as idle rounds never play
/// a scheduled arm. A round must play some arm, though: an idle round (no request) plays the
/// arm with the largest net gain p_j(τ_j) + p_j(a_j) − p_j(min(τ_j + a_j, τ_max)), a_j being
/// the rounds until j's next request (an unscheduled arm's gain is p_j(τ_j)). For concave
/// payoffs that gain is never negative.
pub(super) struct Rounding {
    payoffs: Payoffs,
    /// Per arm: its gap (0 = never requests) and offset.
    gap: Vec<u64>,
    offset: Vec<u64>,
    rate: Vec<f64>,
    total_rate: f64,
    /// Round number (the rounding's own clock, from when it started).
    t: u64,
    requests: Vec<usize>,
    weights: Vec<f64>,
}

impl Rounding {
    /// Draws the schedule from `lp` (solved for `payoffs`).
    pub fn new(payoffs: Payoffs, lp: &LpRelaxation, rng: &mut Stream) -> Self {
        let k = payoffs.arms();
        let mut probs = vec![0.0; payoffs.max_delay() + 1];
        let (mut gap, mut offset) = (vec![0; k], vec![0; k]);
        for i in 0..k {
            let row = lp.row(i);
            probs[..row.len()].copy_from_slice(row);
            probs[row.len()] = (1.0 - row.iter().sum::<f64>()).max(0.0);
            let pick = rng::categorical(rng, &probs);
            if pick < row.len() {
                gap[i] = pick as u64 + 1;
                offset[i] = rng::index(rng, pick + 1) as u64;
            }
        }
        let rate: Vec<f64> = (0..k).map(|i| lp.request_rate(i)).collect();
        let total_rate = rate.iter().sum();
        Rounding {
            payoffs,
            gap,
            offset,
            rate,
            total_rate,
            t: 0,
            requests: Vec::with_capacity(k),
            weights: Vec::with_capacity(k),
        }
    }

    /// Rounds from now until arm `i`'s next request (0 = it requests now).
    #[inline]
    fn wait(&self, i: usize) -> u64 {
        let d = self.gap[i];
        (self.offset[i] + d - self.t % d) % d
    }
}

impl Chooser for Rounding {
    fn choose(&mut self, view: &View, rng: &mut Stream) -> usize {
        let k = self.gap.len();
        self.requests.clear();
        for i in 0..k {
            if self.gap[i] > 0 && self.wait(i) == 0 {
                self.requests.push(i);
            }
        }
        let arm = match self.requests.len() {
            0 => {
                let (pay, tau) = (&self.payoffs, view.tau);
                let dmax = pay.max_delay() as u64;
                rng::argmax_by(rng, k, |j| {
                    let now = pay.get(j, tau[j] as usize);
                    if self.gap[j] == 0 {
                        return now;
                    }
                    let a = self.wait(j);
                    let skipped = pay.get(j, (tau[j] as u64 + a).min(dmax) as usize);
                    now + pay.get(j, a.min(dmax) as usize) - skipped
                })
            }
            1 => self.requests[0],
            n => {
                let inside: f64 = self.requests.iter().map(|&j| self.rate[j]).sum();
                let outside = (self.total_rate - inside).max(0.0);
                self.weights.clear();
                for &i in &self.requests {
                    let w = (inside - self.rate[i]).max(0.0) / (n - 1) as f64 + outside / n as f64;
                    self.weights.push(w);
                }
                self.requests[rng::categorical(rng, &self.weights)]
            }
        };
        self.t += 1;
        arm
    }
    fn observe(&mut self, _: usize, _: usize, _: f64, _: &mut Stream) {}
}

/// How explore-then-commit plans once it has its estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Planner {
    /// The finite-horizon DP on the estimates (LP rounding when the DP does not fit).
    Dp,
    Lp,
    Greedy,
}

enum Phase {
    Explore,
    Dp(Plan),
    Lp(Rounding),
    Greedy(Greedy),
}

/// `recharging-etc`: explore until every (arm, delay) pair has `samples` observations, then
/// fit non-decreasing payoff estimates (pool-adjacent-violators) and plan on them for the rest
/// of the run.
///
/// Exploration steers the delays: it plays an arm whose current (arm, τ) pair still needs
/// samples (the one at the largest τ, since large delays take longest to reach); if none does,
/// an arm that needs no larger delay than it has now (a reset costs it nothing), preferring one
/// that still needs a smaller delay (the reset is its progress); if every arm is waiting for a
/// larger delay, the one at the smallest τ (the least waiting lost). With one arm only delay 1
/// can be revisited, so only (0, 1) is a target.
pub(super) struct ExploreThenCommit {
    max_delay: usize,
    /// With one arm, only (0, 1) is a target.
    one_arm: bool,
    samples: u64,
    planner: Planner,
    graph: Option<Arc<Graph>>,
    counts: Vec<u64>,
    sums: Vec<f64>,
    /// Target pairs still short of `samples`.
    missing: usize,
    explored: u64,
    phase: Phase,
}

impl ExploreThenCommit {
    pub fn new(arms: usize, max_delay: usize, samples: u64, planner: Planner, graph: Option<Arc<Graph>>) -> Self {
        let missing = if arms == 1 { 1 } else { arms * max_delay };
        ExploreThenCommit {
            max_delay,
            one_arm: arms == 1,
            samples,
            planner,
            graph,
            counts: vec![0; arms * max_delay],
            sums: vec![0.0; arms * max_delay],
            missing,
            explored: 0,
            phase: Phase::Explore,
        }
    }

    /// The default exploration: `samples` = ⌈(T/P)^(2/3) (ln T)^(1/3)⌉ for P target pairs, the
    /// explore-first schedule of Slivkins (2019, sec. 1.2) with pairs in place of arms.
    pub fn auto_samples(arms: usize, max_delay: usize, horizon: u64) -> u64 {
        let pairs = if arms == 1 { 1 } else { arms * max_delay } as f64;
        let t = horizon.max(2) as f64;
        ((t / pairs).powf(2.0 / 3.0) * t.ln().powf(1.0 / 3.0)).ceil().max(1.0) as u64
    }

    fn is_target(&self, delay: usize) -> bool {
        !self.one_arm || delay == 1
    }

    fn needs(&self, arm: usize, delay: usize) -> bool {
        self.is_target(delay) && self.counts[arm * self.max_delay + delay - 1] < self.samples
    }

    fn explore(&self, tau: &[u8]) -> usize {
        let needy = (0..tau.len()).filter(|&i| self.needs(i, tau[i] as usize));
        if let Some(i) = needy.max_by_key(|&i| (tau[i], std::cmp::Reverse(i))) {
            return i;
        }
        let waits = |i: usize| (tau[i] as usize + 1..=self.max_delay).any(|d| self.needs(i, d));
        let wants_reset = |i: usize| (1..tau[i] as usize).any(|d| self.needs(i, d));
        // An arm that needs a smaller delay first (the reset is its progress), else a finished one.
        let free = || (0..tau.len()).filter(|&i| !waits(i));
        if let Some(i) = free().find(|&i| wants_reset(i)).or_else(|| free().next()) {
            return i;
        }
        (0..tau.len()).min_by_key(|&i| (tau[i], i)).unwrap_or(0)
    }

    /// The estimates and the plan for the remaining `steps_left` rounds.
    fn commit(&mut self, steps_left: u64, rng: &mut Stream) {
        let k = self.counts.len() / self.max_delay;
        let rows: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                let span = i * self.max_delay..(i + 1) * self.max_delay;
                let means: Vec<f64> = self.sums[span.clone()]
                    .iter()
                    .zip(&self.counts[span.clone()])
                    .map(|(s, &n)| s / n.max(1) as f64)
                    .collect();
                monotone_fit(&means, &self.counts[span])
            })
            .collect();
        let est = Payoffs::from_rows(&rows);
        let fits = |g: &Graph| g.states() as u64 * steps_left <= super::oracle::DP_MAX_ENTRIES;
        self.phase = match (self.planner, &self.graph) {
            (Planner::Dp, Some(g)) if fits(g) => Phase::Dp(Plan::solve(g, &g.rewards(&est), steps_left)),
            (Planner::Dp | Planner::Lp, _) => match LpRelaxation::solve(&est) {
                Ok(lp) => Phase::Lp(Rounding::new(est, &lp, rng)),
                Err(_) => Phase::Greedy(Greedy { payoffs: est }),
            },
            (Planner::Greedy, _) => Phase::Greedy(Greedy { payoffs: est }),
        };
    }
}

impl Chooser for ExploreThenCommit {
    fn choose(&mut self, view: &View, rng: &mut Stream) -> usize {
        if matches!(self.phase, Phase::Explore) {
            if self.missing > 0 {
                self.explored += 1;
                return self.explore(view.tau);
            }
            self.commit(view.steps_left, rng);
        }
        match &mut self.phase {
            Phase::Explore => unreachable!("committed above"),
            Phase::Dp(plan) => plan.action(view.steps_left, view.state),
            Phase::Lp(r) => r.choose(view, rng),
            Phase::Greedy(g) => g.choose(view, rng),
        }
    }

    fn observe(&mut self, arm: usize, delay: usize, reward: f64, _rng: &mut Stream) {
        if !matches!(self.phase, Phase::Explore) {
            return;
        }
        let j = arm * self.max_delay + delay - 1;
        self.counts[j] += 1;
        self.sums[j] += reward;
        if self.counts[j] == self.samples && self.is_target(delay) {
            self.missing -= 1;
        }
    }

    fn measures(&self) -> Vec<Measure> {
        vec![Measure { name: "explore-steps", value: self.explored as f64 }]
    }
}
