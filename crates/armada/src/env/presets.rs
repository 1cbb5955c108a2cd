//! The BanditBench environment presets (Nie et al., "EVOLvE", ICML 2025, §3 and the
//! `banditbench` package's factories), defined for any number of arms.

use crate::rng::{self, Stream};

/// A named environment preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvPreset {
    /// One arm p = 0.75, the rest p = 0.25 (Δ = 0.5). BanditBench "Bernoulli easy".
    BernoulliEasy,
    /// One arm p = 0.6, the rest p = 0.4 (Δ = 0.2). BanditBench "Bernoulli hard".
    BernoulliHard,
    /// σ = 1, means drawn N(0, 1). BanditBench "Gaussian easy".
    GaussianEasy,
    /// σ = 3, means drawn N(0, 3²). BanditBench "Gaussian hard".
    GaussianHard,
}

/// Every preset, in the order `armada list` shows them.
pub const ENV_PRESETS: [EnvPreset; 4] =
    [EnvPreset::BernoulliEasy, EnvPreset::BernoulliHard, EnvPreset::GaussianEasy, EnvPreset::GaussianHard];

impl EnvPreset {
    pub fn name(self) -> &'static str {
        match self {
            EnvPreset::BernoulliEasy => "bernoulli-easy",
            EnvPreset::BernoulliHard => "bernoulli-hard",
            EnvPreset::GaussianEasy => "gaussian-easy",
            EnvPreset::GaussianHard => "gaussian-hard",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ENV_PRESETS.into_iter().find(|p| p.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            EnvPreset::BernoulliEasy => "Bernoulli: one arm p=0.75, the rest p=0.25 (gap 0.5)",
            EnvPreset::BernoulliHard => "Bernoulli: one arm p=0.6, the rest p=0.4 (gap 0.2)",
            EnvPreset::GaussianEasy => "Gaussian sigma=1: means drawn N(0, 1) per instance",
            EnvPreset::GaussianHard => "Gaussian sigma=3: means drawn N(0, 3^2) per instance",
        }
    }

    pub fn is_bernoulli(self) -> bool {
        matches!(self, EnvPreset::BernoulliEasy | EnvPreset::BernoulliHard)
    }

    /// The horizon BanditBench's FullBench pairs with the preset (300 easy, 1000 hard).
    pub fn banditbench_horizon(self) -> u64 {
        match self {
            EnvPreset::BernoulliEasy | EnvPreset::GaussianEasy => 300,
            EnvPreset::BernoulliHard | EnvPreset::GaussianHard => 1000,
        }
    }

    /// Means and per-arm σ (empty for Bernoulli) before any shuffle, plus whether rewards are
    /// Bernoulli. The best Bernoulli arm is listed last, as in BanditBench's factories.
    pub(crate) fn draw(self, arms: usize, rng: &mut Stream) -> (Vec<f64>, Vec<f64>, bool) {
        match self {
            EnvPreset::BernoulliEasy => (one_best(arms, 0.25, 0.75), Vec::new(), true),
            EnvPreset::BernoulliHard => (one_best(arms, 0.4, 0.6), Vec::new(), true),
            EnvPreset::GaussianEasy | EnvPreset::GaussianHard => {
                let sigma = if self == EnvPreset::GaussianEasy { 1.0 } else { 3.0 };
                let means = (0..arms).map(|_| sigma * rng::normal(rng)).collect();
                (means, vec![sigma; arms], false)
            }
        }
    }
}

fn one_best(arms: usize, rest: f64, best: f64) -> Vec<f64> {
    let mut v = vec![rest; arms];
    if let Some(last) = v.last_mut() {
        *last = best;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Role;

    #[test]
    fn names_round_trip_and_are_unique() {
        for p in ENV_PRESETS {
            assert_eq!(EnvPreset::from_name(p.name()), Some(p));
        }
        assert_eq!(EnvPreset::from_name("bernoulli"), None);
    }

    #[test]
    fn bernoulli_presets_have_the_published_gaps() {
        let mut rng = rng::stream(0, Role::Instance, &[], 0);
        let (m, _, b) = EnvPreset::BernoulliHard.draw(20, &mut rng);
        assert!(b);
        assert_eq!(m.iter().filter(|&&x| x == 0.6).count(), 1);
        assert_eq!(m.iter().filter(|&&x| x == 0.4).count(), 19);
        let (m, _, _) = EnvPreset::BernoulliEasy.draw(5, &mut rng);
        assert_eq!(m, vec![0.25, 0.25, 0.25, 0.25, 0.75]);
    }

    #[test]
    fn gaussian_hard_means_have_sd_three() {
        let mut rng = rng::stream(0, Role::Instance, &[], 0);
        let (m, s, b) = EnvPreset::GaussianHard.draw(20_000, &mut rng);
        assert!(!b && s.iter().all(|&x| x == 3.0));
        let mean = m.iter().sum::<f64>() / m.len() as f64;
        let var = m.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m.len() - 1) as f64;
        // sd of the sample variance ≈ 9·sqrt(2/20000) ≈ 0.09; allow 5 sd.
        assert!(mean.abs() < 0.15 && (var - 9.0).abs() < 0.45, "{mean} {var}");
    }
}
