//! Lipschitz bandits on [0, 1] (Kleinberg 2004; Kleinberg, Slivkins, Upfal 2008; Slivkins 2019,
//! ch. 4): the arms are the points x of the unit interval, the mean reward μ(x) is L-Lipschitz,
//! and a pull of x pays Bernoulli(μ(x)). This module holds the environment (a tent, or a tent
//! with a lower second peak), its exact regret, and the two policies that play a continuum:
//! `uniform-mesh` (UCB1 on a fixed grid) and `zooming` (an adaptively refined active set).
//!
//! **Landscape.** `shape = "tent"`: μ(x) = max(floor, top − slope·|x − peak|). `shape =
//! "two-peaks"`: the same tent maxed with a second one of the same slope, max(floor, top −
//! slope·|x − peak|, second_top − slope·|x − second_peak|), second_top < top, so the global best
//! point is `peak` and `second_peak` is a local optimum zooming must not settle on. Both are
//! slope-Lipschitz and stay in [0, 1] because 0 ≤ floor < top ≤ 1. `peak = "random"` (the
//! default) draws the peak uniformly in [0, 1) per seed index from the instance stream, so a
//! mesh is not lucky or unlucky by where its grid falls.
//!
//! **Rewards.** Each step draws one uniform u from the reward stream whatever the action; the
//! reward is 1 when u < μ(x_t). Every policy on a seed index therefore meets the same noise.
//!
//! **Regret.** sup_x μ(x) = top, attained at `peak`, is known in closed form, so the regret is
//! exact: Σ_t (top − μ(x_t)), accumulated term by term (each term ≥ 0, so the curve never
//! decreases). There is no finite arm set: [`FamilyEnv::arms`] is 0, `pulls_by_rank` is empty
//! and MinFrac is reported as 0 at every checkpoint. OptFrac counts a play as optimal when x_t
//! is in the near-optimal set μ(x) ≥ top − [`NEAR_OPTIMAL_GAP`].
//!
//! **Measures.** `active-arms`: the final size of zooming's active set, or the mesh's number of
//! points. `active-near-peak`: the share of those points within [`NEAR_PEAK_DISTANCE`] of the
//! global peak.
//!
//! Only this module's policies play here: a classic policy picks one of K arms and a point of
//! [0, 1] is not one. Each policy knows the horizon T and assumes a Lipschitz constant L (its
//! `lipschitz` parameter, default 1); it is never told the landscape's slope.

use super::{FamilyEnv, FamilyKind, FamilyRun, FieldError, Fields, Measure, Outcome};
use crate::env::RewardModel;
use crate::policy::{BanditInfo, ParamDef, ParamKind, ParamValue, Policy, PolicyDef, PolicySpec, Ucb};
use crate::rng::{self, Role, Stream};
use std::sync::Arc;
use toml::{Table, Value};

/// A play counts as optimal for OptFrac when its gap top − μ(x) is at most this.
pub const NEAR_OPTIMAL_GAP: f64 = 0.05;

/// `active-near-peak` counts active points within this distance of the global peak.
pub const NEAR_PEAK_DISTANCE: f64 = 0.1;

/// Zooming treats an uncovered gap narrower than this as covered, so rounding in the ball ends
/// can never make the active set grow step after step (every real gap is far wider: balls have
/// half-width at least √(2 ln T / (T + 1)) / L).
pub const GAP_TOLERANCE: f64 = 1e-9;

const LIPSCHITZ: ParamDef = ParamDef {
    name: "lipschitz",
    kind: ParamKind::Float { min: 0.0, max: 1e6, min_open: true },
    default: ParamValue::Float(1.0),
    doc: "the Lipschitz constant L the policy assumes (it is not told the landscape's slope)",
};

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        name: "uniform-mesh",
        algorithm: "uniform-mesh",
        contextual: false,
        summary: "UCB1 (alpha = 2) on the midpoints of K equal cells of [0, 1]",
        reference: "Kleinberg (2004); Slivkins (2019), sec. 4.1",
        params: &[
            ParamDef {
                name: "arms",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Auto,
                doc: "mesh size K; auto = ceil(1/eps) with eps = (L^2 T / ln T)^(-1/3)",
            },
            LIPSCHITZ,
        ],
    },
    PolicyDef {
        name: "zooming",
        algorithm: "zooming",
        contextual: false,
        summary: "active points with radius sqrt(2 ln T / (n + 1)); activate the midpoint of the first uncovered gap, \
                  play argmax mean + 2 radius",
        reference: "Kleinberg, Slivkins, Upfal (2008); Slivkins (2019), sec. 4.3",
        params: &[LIPSCHITZ],
    },
];

/// The keys of a `lipschitz` `[[env]]` table.
const KEYS: &[&str] = &["shape", "peak", "top", "slope", "floor", "second_peak", "second_top"];

/// The registry entry of this family.
pub const KIND: FamilyKind = FamilyKind { kind: "lipschitz", keys: KEYS, parse, policies: POLICIES };

fn parse(fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    Ok(Arc::new(LipschitzEnv::from_fields(fields)?))
}

/// The form of the mean-reward function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// One peak.
    Tent,
    /// A global peak and a lower local one.
    TwoPeaks,
}

impl Shape {
    fn word(self) -> &'static str {
        match self {
            Shape::Tent => "tent",
            Shape::TwoPeaks => "two-peaks",
        }
    }
}

/// Where the global peak is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Peak {
    At(f64),
    /// Uniform in [0, 1), drawn per seed index from the instance stream.
    Random,
}

/// A Lipschitz bandit environment as written in a spec.
#[derive(Clone, Debug, PartialEq)]
pub struct LipschitzEnv {
    pub shape: Shape,
    pub peak: Peak,
    /// μ at the global peak, the best value.
    pub top: f64,
    /// The Lipschitz constant of μ: how fast it falls away from a peak.
    pub slope: f64,
    /// μ never falls below this.
    pub floor: f64,
    /// Position and height of the local peak (`two-peaks` only).
    pub second: Option<(f64, f64)>,
}

impl LipschitzEnv {
    /// Reads and validates a `lipschitz` table; errors name the key and say what to write.
    pub fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        let shape = match f.word("shape", &["tent", "two-peaks"])? {
            Some("two-peaks") => Shape::TwoPeaks,
            _ => Shape::Tent,
        };
        let peak = match f.table.get("peak") {
            None => Peak::Random,
            Some(Value::String(s)) if s == "random" => Peak::Random,
            Some(Value::String(s)) => {
                return Err(FieldError::new("peak", format!("must be a number in [0, 1] or \"random\", got \"{s}\"")));
            }
            Some(_) => Peak::At(f.number_in("peak", 0.0, 1.0)?.unwrap_or(0.5)),
        };
        let top = f.number_in("top", 0.0, 1.0)?.unwrap_or(1.0);
        if top <= 0.0 {
            return Err(FieldError::new("top", "must be in (0, 1]: the peak's mean reward, above the floor"));
        }
        let slope = f.number("slope")?.unwrap_or(1.0);
        if slope <= 0.0 {
            return Err(FieldError::new("slope", format!("must be > 0 (the Lipschitz constant), got {slope}")));
        }
        let floor = f.number("floor")?.unwrap_or(0.0);
        if !(0.0..top).contains(&floor) {
            return Err(FieldError::new(
                "floor",
                format!("must be in [0, top) = [0, {top}) so that μ stays in [0, 1] and has a peak, got {floor}"),
            ));
        }
        let second = match shape {
            Shape::Tent => {
                for key in ["second_peak", "second_top"] {
                    if f.has(key) {
                        return Err(FieldError::new(
                            key,
                            "only for shape = \"two-peaks\"; add that or remove this key",
                        ));
                    }
                }
                None
            }
            Shape::TwoPeaks => {
                let at = f.number_in("second_peak", 0.0, 1.0)?;
                let at = f.require("second_peak", at, "the local peak's position in [0, 1]")?;
                let height = f.number("second_top")?;
                let height = f.require("second_top", height, "the local peak's height, in [0, top)")?;
                if !(0.0..top).contains(&height) {
                    return Err(FieldError::new(
                        "second_top",
                        format!(
                            "must be in [0, top) = [0, {top}): the second peak is the lower one (swap the peaks if \
                             you want it higher), got {height}"
                        ),
                    ));
                }
                Some((at, height))
            }
        };
        Ok(LipschitzEnv { shape, peak, top, slope, floor, second })
    }

    /// The landscape of one run: the peak drawn from the run's instance stream when random.
    pub fn landscape(&self, run: &FamilyRun) -> Landscape {
        let peak = match self.peak {
            Peak::At(x) => x,
            Peak::Random => rng::uniform(&mut run.stream(Role::Instance)),
        };
        // A tent is a two-peaks landscape whose second peak is infinitely low.
        let (second_peak, second_top) = self.second.unwrap_or((0.0, f64::NEG_INFINITY));
        Landscape { peak, top: self.top, slope: self.slope, floor: self.floor, second_peak, second_top }
    }

    /// Runs `policy` (one of [`POLICIES`]) and calls `on_step` after every step: what
    /// [`FamilyEnv::run`] does, with a window on each action for tests and plots.
    pub fn run_observed(&self, policy: &PolicySpec, run: &FamilyRun, mut on_step: impl FnMut(Step)) -> Outcome {
        let land = self.landscape(run);
        let lipschitz = policy.float("lipschitz");
        match policy.def.algorithm {
            "uniform-mesh" => {
                let cells = policy.count_or_auto("arms").unwrap_or_else(|| auto_mesh_size(lipschitz, run.horizon));
                play(&mut UniformMesh::new(cells, run.horizon), &land, run, &mut on_step)
            }
            "zooming" => play(&mut Zooming::new(lipschitz, run.horizon), &land, run, &mut on_step),
            other => unreachable!("{other} was accepted on a lipschitz environment; accepts() refuses it"),
        }
    }
}

/// The mean-reward function of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Landscape {
    pub peak: f64,
    pub top: f64,
    pub slope: f64,
    pub floor: f64,
    pub second_peak: f64,
    /// −∞ for a tent.
    pub second_top: f64,
}

impl Landscape {
    /// μ(x).
    #[inline(always)]
    pub fn mean(&self, x: f64) -> f64 {
        let first = self.top - self.slope * (x - self.peak).abs();
        let second = self.second_top - self.slope * (x - self.second_peak).abs();
        self.floor.max(first).max(second)
    }

    /// sup_x μ(x) = μ(peak) = top (the second peak is lower).
    pub fn best_value(&self) -> f64 {
        self.top
    }

    /// min_x μ(x) over [0, 1], exactly. μ falls monotonically from the peaks towards 0 and 1,
    /// so its minimum is at an end of the interval or, between the two peaks, where the two
    /// tents cross (clamped to the stretch between the peaks when they do not cross there).
    pub fn min_value(&self) -> f64 {
        let mut low = self.mean(0.0).min(self.mean(1.0));
        if self.second_top.is_finite() {
            let (a, b) = if self.peak <= self.second_peak {
                ((self.peak, self.top), (self.second_peak, self.second_top))
            } else {
                ((self.second_peak, self.second_top), (self.peak, self.top))
            };
            // a.1 − s(x − a.0) = b.1 − s(b.0 − x)  ⇔  x = (a.1 − b.1 + s(a.0 + b.0)) / 2s.
            let cross = (a.1 - b.1 + self.slope * (a.0 + b.0)) / (2.0 * self.slope);
            low = low.min(self.mean(cross.clamp(a.0, b.0)));
        }
        low
    }
}

/// What [`LipschitzEnv::run_observed`] reports after each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Steps played so far, this one included.
    pub t: u64,
    /// The point played.
    pub x: f64,
    /// μ(x).
    pub mean: f64,
    pub reward: f64,
    /// Regret so far, this step included.
    pub regret: f64,
}

/// Most mesh points `uniform-mesh` may use (checked when the spec is read).
pub const MAX_MESH_ARMS: u64 = 1 << 20;

/// The mesh size of `uniform-mesh` with `arms = "auto"`: ⌈1/ε⌉ with ε = (L²T / ln T)^(−1/3),
/// the ε that balances the discretisation error εLT against UCB1's √(KT ln T) on K = 1/ε arms
/// (Slivkins 2019, sec. 4.1). ln T is taken at T ≥ 2 so it is positive.
pub fn auto_mesh_size(lipschitz: f64, horizon: u64) -> u64 {
    let t = horizon.max(2) as f64;
    let inverse_eps = (lipschitz * lipschitz * t / t.ln()).cbrt();
    // The cast saturates; a mesh finer than the horizon is never built (see UniformMesh::new).
    (inverse_eps.ceil() as u64).max(1)
}

/// A policy that plays points of [0, 1].
trait PointPolicy {
    /// The point to play next.
    fn select(&mut self, rng: &mut Stream) -> f64;
    /// The reward of the point just played.
    fn update(&mut self, reward: f64, rng: &mut Stream);
    /// The number of points the policy keeps, and how many of them are within `distance` of
    /// `peak`.
    fn points_near(&self, peak: f64, distance: f64) -> (u64, u64);
}

/// Runs one policy for the horizon: the monomorphized hot loop, no allocation per step.
fn play<P: PointPolicy>(policy: &mut P, land: &Landscape, run: &FamilyRun, on_step: &mut impl FnMut(Step)) -> Outcome {
    let mut reward_rng = run.stream(Role::Reward);
    let mut policy_rng = run.stream(Role::Policy);
    let best = land.best_value();
    let n = run.checkpoints.len();
    let mut regret_curve = Vec::with_capacity(n);
    let mut opt_frac = Vec::with_capacity(n);
    let (mut regret, mut reward_sum, mut near_optimal, mut next) = (0.0, 0.0, 0u64, 0usize);
    for t in 1..=run.horizon {
        let x = policy.select(&mut policy_rng);
        let mean = land.mean(x);
        // One uniform per step whatever x is: common random numbers across policies.
        let reward = if rng::uniform(&mut reward_rng) < mean { 1.0 } else { 0.0 };
        policy.update(reward, &mut policy_rng);
        let gap = best - mean;
        regret += gap;
        reward_sum += reward;
        near_optimal += u64::from(gap <= NEAR_OPTIMAL_GAP);
        on_step(Step { t, x, mean, reward, regret });
        if next < n && run.checkpoints[next] == t {
            regret_curve.push(regret);
            opt_frac.push(near_optimal as f64 / t as f64);
            next += 1;
        }
    }
    let (points, near) = policy.points_near(land.peak, NEAR_PEAK_DISTANCE);
    Outcome {
        regret: regret_curve,
        reward: reward_sum,
        min_frac: vec![0.0; n],
        opt_frac,
        pulls_by_rank: Vec::new(),
        measures: vec![
            Measure { name: "active-arms", value: points as f64 },
            Measure { name: "active-near-peak", value: if points == 0 { 0.0 } else { near as f64 / points as f64 } },
        ],
    }
}

/// UCB1 on the midpoints (i + ½)/K of K equal cells.
pub struct UniformMesh {
    ucb: Ucb,
    cells: u64,
    last: usize,
}

impl UniformMesh {
    /// A mesh of `cells` points for a run of `horizon` steps. UCB1 plays its arms once each in
    /// index order before anything else, so on a mesh of at least T points it plays points
    /// 0, 1, …, T − 1 and never looks further: only min(K, T) arms are kept, whatever K is.
    pub fn new(cells: u64, horizon: u64) -> Self {
        let kept = cells.min(horizon).max(1) as usize;
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: kept, horizon, reward_model: &model };
        UniformMesh { ucb: Ucb::new(&info, 2.0), cells, last: 0 }
    }

    /// The point of mesh arm `i`.
    pub fn point(&self, i: usize) -> f64 {
        (i as f64 + 0.5) / self.cells as f64
    }
}

impl PointPolicy for UniformMesh {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> f64 {
        self.last = self.ucb.select(rng);
        self.point(self.last)
    }

    #[inline]
    fn update(&mut self, reward: f64, rng: &mut Stream) {
        self.ucb.update(self.last, reward, rng);
    }

    /// Counted, not enumerated (K may be huge): midpoint i is within d of p when
    /// K(p − d) − ½ ≤ i ≤ K(p + d) − ½.
    fn points_near(&self, peak: f64, distance: f64) -> (u64, u64) {
        let k = self.cells as f64;
        let lo = (k * (peak - distance) - 0.5).ceil().max(0.0);
        let hi = (k * (peak + distance) - 0.5).floor().min(k - 1.0);
        (self.cells, if hi >= lo { (hi - lo + 1.0) as u64 } else { 0 })
    }
}

/// The zooming algorithm (Slivkins 2019, Alg. 4.2) on [0, 1] with the metric L·|x − y|.
///
/// Each active point x has n(x) plays, mean μ̄(x) and confidence radius r(x) = √(2 ln T /
/// (n(x) + 1)) in reward units; its ball {y : L|x − y| ≤ r(x)} is the interval of half-width
/// r(x)/L. Each step: if some point of [0, 1] lies in no ball, activate one (exactly: a sweep
/// over the balls ordered by left end finds the first uncovered gap, and its midpoint is
/// activated; the first point is ½); then play the active point with the largest index
/// μ̄(x) + 2r(x), ties at random. At most one activation per step; radii only shrink, and an
/// activated point is at least the smallest half-width √(2 ln T / (T + 1))/L from every other,
/// so the active set stays finite. ln T is taken at T ≥ 2.
pub struct Zooming {
    inv_lipschitz: f64,
    /// 2 ln T, the numerator of r².
    two_ln_t: f64,
    xs: Vec<f64>,
    counts: Vec<u64>,
    means: Vec<f64>,
    radii: Vec<f64>,
    /// Active points by the left end of their ball, for the coverage sweep.
    by_left: Vec<usize>,
    last: usize,
}

impl Zooming {
    /// Room for this many active points before the first growth.
    const INITIAL_CAPACITY: usize = 64;

    pub fn new(lipschitz: f64, horizon: u64) -> Self {
        let c = Self::INITIAL_CAPACITY;
        Zooming {
            inv_lipschitz: 1.0 / lipschitz,
            two_ln_t: 2.0 * (horizon.max(2) as f64).ln(),
            xs: Vec::with_capacity(c),
            counts: Vec::with_capacity(c),
            means: Vec::with_capacity(c),
            radii: Vec::with_capacity(c),
            by_left: Vec::with_capacity(c),
            last: 0,
        }
    }

    /// The active points, in activation order.
    pub fn points(&self) -> &[f64] {
        &self.xs
    }

    /// The confidence radius r(x) of active point `i`.
    pub fn radius(&self, i: usize) -> f64 {
        self.radii[i]
    }

    fn left(&self, i: usize) -> f64 {
        self.xs[i] - self.radii[i] * self.inv_lipschitz
    }

    fn right(&self, i: usize) -> f64 {
        self.xs[i] + self.radii[i] * self.inv_lipschitz
    }

    /// A point of [0, 1] outside every ball, if there is one: the midpoint of the leftmost
    /// uncovered gap. Balls before the gap end at or before its left end, balls after it start
    /// after its right end, so the midpoint is in none of them.
    pub fn first_uncovered(&self) -> Option<f64> {
        let mut reach = 0.0_f64;
        for &i in &self.by_left {
            let left = self.left(i);
            if left > reach + GAP_TOLERANCE {
                return Some(0.5 * (reach + left));
            }
            reach = reach.max(self.right(i));
            if reach >= 1.0 {
                return None;
            }
        }
        (reach < 1.0 - GAP_TOLERANCE).then_some(0.5 * (reach + 1.0))
    }

    fn activate(&mut self, x: f64) {
        let i = self.xs.len();
        self.xs.push(x);
        self.counts.push(0);
        self.means.push(0.0);
        self.radii.push(self.two_ln_t.sqrt());
        let left = self.left(i);
        let at = self.by_left.iter().position(|&j| self.left(j) > left).unwrap_or(self.by_left.len());
        self.by_left.insert(at, i);
    }

    /// Moves point `i`, whose ball just shrank (its left end moved right), to its place in
    /// `by_left`.
    fn reorder(&mut self, i: usize) {
        let Some(mut p) = self.by_left.iter().position(|&j| j == i) else { return };
        let left = self.left(i);
        while p + 1 < self.by_left.len() && self.left(self.by_left[p + 1]) < left {
            self.by_left.swap(p, p + 1);
            p += 1;
        }
    }
}

impl PointPolicy for Zooming {
    #[inline]
    fn select(&mut self, rng: &mut Stream) -> f64 {
        if let Some(x) = self.first_uncovered() {
            self.activate(x);
        }
        let (means, radii) = (&self.means, &self.radii);
        self.last = rng::argmax_by(rng, means.len(), |i| means[i] + 2.0 * radii[i]);
        self.xs[self.last]
    }

    #[inline]
    fn update(&mut self, reward: f64, _rng: &mut Stream) {
        let i = self.last;
        let n = self.counts[i] + 1;
        self.counts[i] = n;
        self.means[i] += (reward - self.means[i]) / n as f64;
        self.radii[i] = (self.two_ln_t / (n + 1) as f64).sqrt();
        self.reorder(i);
    }

    fn points_near(&self, peak: f64, distance: f64) -> (u64, u64) {
        let near = self.xs.iter().filter(|&&x| (x - peak).abs() <= distance).count();
        (self.xs.len() as u64, near as u64)
    }
}

impl FamilyEnv for LipschitzEnv {
    fn kind(&self) -> &'static str {
        "lipschitz"
    }

    /// No finite arm set.
    fn arms(&self) -> usize {
        0
    }

    fn identity(&self) -> String {
        let peak = match self.peak {
            Peak::At(x) => format!("{x}"),
            Peak::Random => "random".into(),
        };
        let second = match self.second {
            Some((at, height)) => format!(",second_peak={at},second_top={height}"),
            None => String::new(),
        };
        format!("{}(peak={peak},top={},slope={},floor={}{second})", self.shape.word(), self.top, self.slope, self.floor)
    }

    fn default_label(&self) -> String {
        format!("lipschitz-{}-L{}", self.shape.word(), self.slope)
    }

    fn reward_name(&self) -> String {
        format!("bernoulli(mu(x)), x in [0, 1], {} of slope {}", self.shape.word(), self.slope)
    }

    fn regret_name(&self) -> String {
        "pseudo-regret vs the peak value sup mu = top (exact, closed form)".into()
    }

    fn write_toml(&self, t: &mut Table) {
        t.insert("shape".into(), Value::String(self.shape.word().into()));
        let peak = match self.peak {
            Peak::At(x) => Value::Float(x),
            Peak::Random => Value::String("random".into()),
        };
        t.insert("peak".into(), peak);
        t.insert("top".into(), Value::Float(self.top));
        t.insert("slope".into(), Value::Float(self.slope));
        t.insert("floor".into(), Value::Float(self.floor));
        if let Some((at, height)) = self.second {
            t.insert("second_peak".into(), Value::Float(at));
            t.insert("second_top".into(), Value::Float(height));
        }
    }

    fn same_instance(&self) -> bool {
        matches!(self.peak, Peak::At(_))
    }

    fn check_run(&self, policy: &PolicySpec, horizon: u64) -> Result<(), String> {
        if policy.def.name != "uniform-mesh" {
            return Ok(());
        }
        // UCB1 keeps 32 bytes per mesh point and scans them all every step.
        let arms = policy.count_or_auto("arms").unwrap_or_else(|| auto_mesh_size(policy.float("lipschitz"), horizon));
        if arms.min(horizon) > MAX_MESH_ARMS {
            return Err(format!(
                "a mesh of {arms} points is above the cap {MAX_MESH_ARMS} (UCB1 scans every point each step); set \
                 `arms` lower or a smaller `lipschitz`"
            ));
        }
        Ok(())
    }

    fn accepts(&self, policy: &PolicyDef) -> Result<(), String> {
        if POLICIES.iter().any(|p| p.name == policy.name) {
            return Ok(());
        }
        let own: Vec<&str> = POLICIES.iter().map(|p| p.name).collect();
        Err(format!(
            "{} picks one of finitely many arms, and a lipschitz environment's arms are the points of [0, 1]; use {}",
            policy.name,
            own.join(" or ")
        ))
    }

    fn run(&self, policy: &PolicySpec, run: &FamilyRun) -> Outcome {
        self.run_observed(policy, run, |_| {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn landscape(second: Option<(f64, f64)>, peak: f64, slope: f64, floor: f64) -> Landscape {
        let (second_peak, second_top) = second.unwrap_or((0.0, f64::NEG_INFINITY));
        Landscape { peak, top: 0.9, slope, floor, second_peak, second_top }
    }

    #[test]
    fn mean_is_the_clipped_tent() {
        let l = landscape(None, 0.3, 2.0, 0.1);
        assert_eq!(l.mean(0.3), 0.9);
        assert!((l.mean(0.5) - 0.5).abs() < 1e-12);
        assert!((l.mean(0.0) - 0.3).abs() < 1e-12);
        assert_eq!(l.mean(1.0), 0.1);
        let two = landscape(Some((0.8, 0.6)), 0.3, 2.0, 0.0);
        assert!((two.mean(0.8) - 0.6).abs() < 1e-12);
        assert!((two.mean(0.55) - 0.4).abs() < 1e-12, "the tents cross at 0.55 at height 0.4");
    }

    #[test]
    fn min_value_matches_a_fine_grid() {
        for (second, peak, slope, floor) in [
            (None, 0.3, 2.0, 0.1),
            (None, 0.0, 0.5, 0.0),
            (Some((0.8, 0.6)), 0.3, 2.0, 0.0),
            (Some((0.1, 0.85)), 0.2, 0.3, 0.0),
            (Some((0.9, 0.2)), 0.4, 1.0, 0.05),
        ] {
            let l = landscape(second, peak, slope, floor);
            let grid = (0..=100_000).map(|i| l.mean(i as f64 / 100_000.0)).fold(f64::INFINITY, f64::min);
            assert!((l.min_value() - grid).abs() < 1e-4, "{l:?}: {} vs grid {grid}", l.min_value());
            assert!(l.min_value() <= grid + 1e-12);
        }
    }

    #[test]
    fn auto_mesh_follows_the_formula() {
        // (L²T / ln T)^(1/3) at T = 20 000, L = 1: (20000 / 9.903)^(1/3) = 12.64 → 13.
        assert_eq!(auto_mesh_size(1.0, 20_000), 13);
        // L = 4 multiplies 1/ε by 16^(1/3) = 2.52: 31.86 → 32.
        assert_eq!(auto_mesh_size(4.0, 20_000), 32);
        assert_eq!(auto_mesh_size(1.0, 1), 2);
    }

    #[test]
    fn mesh_counts_points_near_the_peak() {
        let mesh = UniformMesh::new(10, 100);
        // Midpoints 0.05, 0.15, …; within 0.1 of 0.5: 0.45 and 0.55 (0.4 and 0.6 are not
        // midpoints).
        assert_eq!(mesh.points_near(0.5, 0.1), (10, 2));
        assert_eq!(mesh.points_near(0.0, 0.1), (10, 1));
        assert_eq!(mesh.points_near(0.5, 1.0), (10, 10));
        let huge = UniformMesh::new(1 << 40, 50);
        // i from ⌈0.4K − ½⌉ to ⌊0.6K − ½⌋: K/5 = 219 902 325 555.2 rounds to 219 902 325 556.
        assert_eq!(huge.points_near(0.5, 0.1), (1 << 40, 219_902_325_556));
    }

    #[test]
    fn zooming_first_activates_the_middle_then_fills_gaps() {
        let mut z = Zooming::new(1.0, 100);
        assert_eq!(z.first_uncovered(), Some(0.5));
        z.activate(0.5);
        // r = √(2 ln 100) ≈ 3.03 covers everything.
        assert_eq!(z.first_uncovered(), None);
        // Shrink the ball to half-width 0.1 around 0.5: [0, 0.4) is the leftmost gap.
        z.radii[0] = 0.1;
        assert_eq!(z.first_uncovered(), Some(0.2));
        z.activate(0.2);
        z.radii[1] = 0.25;
        z.reorder(1);
        // Balls [-0.05, 0.45] and [0.4, 0.6]: the right gap (0.6, 1] remains.
        assert!((z.first_uncovered().unwrap() - 0.8).abs() < 1e-12);
        z.activate(0.8);
        assert_eq!(z.first_uncovered(), None);
        // The new point's wide ball starts leftmost.
        assert_eq!(z.by_left, vec![2, 1, 0]);
    }
}
