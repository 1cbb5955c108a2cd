//! Arm means that change over time: piecewise-stationary bandits and oblivious-adversary
//! reward tables ([`Piecewise`]: means that change at given steps), and drifting bandits
//! ([`Drifting`]: means on shifted sine waves).
//!
//! A piecewise segment j's means hold from `change_points[j - 1]` (step 0 for the first
//! segment) until the next change point. Rewards are Bernoulli draws, Gaussian draws, or the means themselves
//! (`deterministic`: a reward table fixed in advance, the oblivious adversary of adversarial
//! bandits). Random rewards keep common random numbers: one uniform or one normal per step,
//! whatever the arm.
//!
//! Two regret notions, named in the spec (`regret = ...`):
//! * `dynamic`: Σ_t (max_a μ_a(t) − μ_{a_t}(t)), against the best arm of each step;
//! * `fixed-arm`: max_a Σ_t μ_a(t) − Σ_t μ_{a_t}(t), against the best single arm in hindsight —
//!   the benchmark of adversarial bandits (EXP3's √(2TK ln K) bound is on this one). It can be
//!   negative, and it is not monotone in t.

/// How rewards are drawn from the current means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PiecewiseReward {
    Bernoulli,
    Gaussian {
        sigma: f64,
    },
    /// The reward is the mean itself.
    Deterministic,
}

/// Which benchmark regret is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegretNotion {
    Dynamic,
    FixedArm,
}

impl RegretNotion {
    pub const NAMES: &[&str] = &["dynamic", "fixed-arm"];
    pub fn name(self) -> &'static str {
        match self {
            RegretNotion::Dynamic => "dynamic",
            RegretNotion::FixedArm => "fixed-arm",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "dynamic" => Some(RegretNotion::Dynamic),
            "fixed-arm" => Some(RegretNotion::FixedArm),
            _ => None,
        }
    }
}

/// A piecewise environment as written in a spec, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Piecewise {
    /// One row of arm means per segment.
    pub segments: Vec<Vec<f64>>,
    /// Steps where the next segment starts, increasing; one fewer than the segments.
    pub change_points: Vec<u64>,
    pub reward: PiecewiseReward,
    pub regret: RegretNotion,
}

impl Piecewise {
    pub fn arms(&self) -> usize {
        self.segments[0].len()
    }

    /// The canonical description that seeds the environment's streams (the same string as before
    /// the reward table and regret options existed, for Bernoulli and Gaussian segments).
    pub fn identity(&self) -> String {
        let segs: Vec<String> = self.segments.iter().map(|m| super::fmt_list(m)).collect();
        let cps: Vec<String> = self.change_points.iter().map(u64::to_string).collect();
        let reward = match self.reward {
            PiecewiseReward::Bernoulli => "bernoulli".to_string(),
            PiecewiseReward::Gaussian { sigma } => format!("gaussian,sigma={sigma}"),
            PiecewiseReward::Deterministic => "deterministic".to_string(),
        };
        // The regret notion changes neither the means nor the rewards, so it is not part of it.
        format!("piecewise(segments=[{}],change_points=[{}],{reward})", segs.join(","), cps.join(","))
    }

    /// Σ_{s < t} μ_a(s) for every arm: each arm's total expected reward over the first t steps.
    pub fn cumulative_means(&self, t: u64, out: &mut [f64]) {
        out.fill(0.0);
        let mut start = 0u64;
        for (j, means) in self.segments.iter().enumerate() {
            let end = self.change_points.get(j).copied().unwrap_or(u64::MAX).min(t);
            if end > start {
                for (o, m) in out.iter_mut().zip(means) {
                    *o += (end - start) as f64 * m;
                }
            }
            start = start.max(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_means_add_up_the_segments() {
        let p = Piecewise {
            segments: vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, 0.5]],
            change_points: vec![10, 30],
            reward: PiecewiseReward::Deterministic,
            regret: RegretNotion::FixedArm,
        };
        let mut out = [0.0; 2];
        p.cumulative_means(5, &mut out);
        assert_eq!(out, [5.0, 0.0]);
        p.cumulative_means(40, &mut out);
        assert_eq!(out, [10.0 + 5.0, 20.0 + 5.0]);
    }
}

/// Arm means that drift smoothly: μ_a(t) = center + amplitude · sin(2π (t / period + a / K)).
/// The arms follow the same wave shifted by a K-th of a period, so the best arm changes
/// continually (K times per period).
#[derive(Clone, Debug, PartialEq)]
pub struct Drifting {
    pub arms: usize,
    pub period: u64,
    pub amplitude: f64,
    pub center: f64,
    pub reward: PiecewiseReward,
    pub regret: RegretNotion,
}

impl Drifting {
    /// The canonical description that seeds the environment's streams (not the regret notion,
    /// which changes neither means nor rewards).
    pub fn identity(&self) -> String {
        let reward = match self.reward {
            PiecewiseReward::Bernoulli => "bernoulli".to_string(),
            PiecewiseReward::Gaussian { sigma } => format!("gaussian,sigma={sigma}"),
            PiecewiseReward::Deterministic => "deterministic".to_string(),
        };
        format!(
            "drifting(arms={},period={},amplitude={},center={},{reward})",
            self.arms, self.period, self.amplitude, self.center
        )
    }

    /// Every arm's mean at step t.
    #[inline]
    pub fn means_at(&self, t: u64, out: &mut [f64]) {
        let k = self.arms as f64;
        let phase = (t % self.period) as f64 / self.period as f64;
        for (a, o) in out.iter_mut().enumerate() {
            *o = self.center + self.amplitude * (std::f64::consts::TAU * (phase + a as f64 / k)).sin();
        }
    }
}

#[cfg(test)]
mod drifting_tests {
    use super::*;

    #[test]
    fn means_follow_shifted_waves() {
        let d = Drifting {
            arms: 4,
            period: 100,
            amplitude: 0.4,
            center: 0.5,
            reward: PiecewiseReward::Bernoulli,
            regret: RegretNotion::Dynamic,
        };
        let mut m = [0.0; 4];
        d.means_at(0, &mut m);
        // Phases 0, 1/4, 1/2, 3/4 of a period: 0.5, 0.9, 0.5, 0.1.
        for (got, want) in m.iter().zip([0.5, 0.9, 0.5, 0.1]) {
            assert!((got - want).abs() < 1e-12, "{m:?}");
        }
        let mut later = [0.0; 4];
        d.means_at(125, &mut later);
        // A quarter period later arm 0 is where arm 1 was.
        assert!((later[0] - 0.9).abs() < 1e-12);
    }
}
