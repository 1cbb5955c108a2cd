//! MovieLens as a contextual bandit: users arrive, the arms are the most-rated movies, and the
//! reward is how much the user likes the movie chosen.
//!
//! **BanditBench's construction** (EVOLvE, `MovieBench`), the default: arms are the K movies with
//! the most ratings; R is the users × K matrix of ratings with 0 where a user did not rate the
//! movie; a truncated SVD R ≈ U S Vᵀ of rank r gives each user the context x_u = U[u, ·] (the
//! left-singular row) and each (user, movie) the expected reward (U S Vᵀ)[u, a]. The reward is
//! deterministic, so regret is exact, and it is linear in the context with θ_a = S V[a, ·]ᵀ: a
//! linear policy is well specified. Every step draws one user, uniformly with replacement, from
//! the chosen user split.
//!
//! Choices a researcher may want to change, and their effect:
//!
//! * `rank` (default 5, the paper's d = 5; BanditBench's code uses 20, which with K ≤ 20 makes
//!   the reconstruction exact, so the reward is the raw rating or 0). The context dimension is
//!   min(rank, K).
//! * `context = "scaled"`: x_u = U[u, ·] S / c with c the largest row norm, so contexts fill the
//!   unit ball. BanditBench's rows have norm ≈ √(d / users) (≈ 0.07 on ml-100k): with λ = 1 a
//!   ridge model then needs many plays of an arm before the data outweighs the prior, and
//!   LinUCB's regret is much higher than with scaled features. Rewards do not change.
//! * `sigma` > 0 adds N(0, σ²) noise to the reward (expected rewards, and so regret, unchanged).
//! * `users = "train" | "eval" | "all"`: users are shuffled once (by `split_seed`), the first
//!   `train_users` are the training users (BanditBench: 100 on ml-100k, 200 on ml-1m) and the
//!   rest are held out.
//! * `evaluation = "replay"`: rejection-sampling replay (Li, Chu, Langford, Wang 2011) over the
//!   ratings that exist. Each attempt draws one rating event (user, movie, rating) of the split
//!   uniformly; the policy sees the user's context and chooses; if it chose the logged movie the
//!   step counts, the reward is the real rating and the policy learns, otherwise the event is
//!   discarded. Replay is unbiased only when the logging policy chose movies uniformly at
//!   random; MovieLens users chose what to watch and rate, so replay here measures agreement
//!   with those choices as much as taste, and is biased towards popular movies. Its regret is
//!   taken against the best movie the user rated among the K, since only rated pairs have a
//!   known value: regret_t = max_a rating(u, a) − rating(u, a_t), over the movies u rated.
//!
//! A [`MovieLensWorld`] is derived once per experiment (loading, SVD, split) and shared by all
//! runs; it is deterministic, so every seed index plays the same world and draws its own users.

use super::contextual::{Context, ContextShape, ContextualEnvironment};
use crate::data::MovieLens;
use crate::rng::{self, Role, Stream};
use nalgebra::DMatrix;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How a user's context is built from the SVD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserFeatures {
    /// The left-singular row U[u, ·], as BanditBench.
    LeftSingular,
    /// U[u, ·] S divided by the largest such row norm.
    Scaled,
}

impl UserFeatures {
    pub const NAMES: &[&str] = &["left-singular", "scaled"];
    pub fn name(self) -> &'static str {
        match self {
            UserFeatures::LeftSingular => "left-singular",
            UserFeatures::Scaled => "scaled",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "left-singular" => Some(UserFeatures::LeftSingular),
            "scaled" => Some(UserFeatures::Scaled),
            _ => None,
        }
    }
}

/// Which users a run draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserSplit {
    Train,
    Eval,
    All,
}

impl UserSplit {
    pub const NAMES: &[&str] = &["train", "eval", "all"];
    pub fn name(self) -> &'static str {
        match self {
            UserSplit::Train => "train",
            UserSplit::Eval => "eval",
            UserSplit::All => "all",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "train" => Some(UserSplit::Train),
            "eval" => Some(UserSplit::Eval),
            "all" => Some(UserSplit::All),
            _ => None,
        }
    }
}

/// How a run is scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Rewards from the low-rank model for any (user, movie): exact regret.
    Model,
    /// Rejection-sampling replay over the ratings that exist.
    Replay,
}

impl Evaluation {
    pub const NAMES: &[&str] = &["model", "replay"];
    pub fn name(self) -> &'static str {
        match self {
            Evaluation::Model => "model",
            Evaluation::Replay => "replay",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "model" => Some(Evaluation::Model),
            "replay" => Some(Evaluation::Replay),
            _ => None,
        }
    }
}

/// The settings of a MovieLens environment.
#[derive(Clone, Debug, PartialEq)]
pub struct MovieLensSettings {
    /// The directory as written in the spec.
    pub data: PathBuf,
    pub arms: usize,
    pub rank: usize,
    pub features: UserFeatures,
    pub users: UserSplit,
    pub train_users: usize,
    pub split_seed: u64,
    pub sigma: f64,
    pub evaluation: Evaluation,
}

/// A MovieLens environment as written in a spec, with its derived world.
#[derive(Clone)]
pub struct MovieLensSpec {
    pub settings: MovieLensSettings,
    pub world: Arc<MovieLensWorld>,
}

impl PartialEq for MovieLensSpec {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings && self.world.fingerprint == other.world.fingerprint
    }
}

impl fmt::Debug for MovieLensSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MovieLensSpec")
            .field("settings", &self.settings)
            .field("fingerprint", &format_args!("{:016x}", self.world.fingerprint))
            .finish()
    }
}

impl MovieLensSpec {
    /// The canonical description that seeds the environment's streams: the dataset's content
    /// fingerprint (not its path) and every setting that changes the world or the rewards.
    pub fn identity(&self) -> String {
        let s = &self.settings;
        format!(
            "movielens(data={:016x},arms={},rank={},context={},users={},train_users={},split_seed={},sigma={},evaluation={})",
            self.world.fingerprint,
            s.arms,
            s.rank,
            s.features.name(),
            s.users.name(),
            s.train_users,
            s.split_seed,
            s.sigma,
            s.evaluation.name()
        )
    }

    pub fn shape(&self) -> ContextShape {
        ContextShape { arms: self.settings.arms, dim: self.world.dim, arm_dim: 0 }
    }
}

/// Everything derived from the data for one setting: contexts and rewards per user, the split,
/// and the rating events replay draws from.
pub struct MovieLensWorld {
    /// The dataset's content fingerprint.
    pub fingerprint: u64,
    pub data: Arc<MovieLens>,
    /// Dataset indices of the arms' movies, most-rated first.
    pub movies: Vec<usize>,
    /// Context dimension min(rank, K).
    pub dim: usize,
    /// users × dim.
    pub contexts: Vec<f64>,
    /// users × K expected rewards (the rank-r reconstruction).
    pub rewards: Vec<f64>,
    /// users × K ratings, 0 where the user did not rate the movie.
    pub ratings: Vec<f64>,
    /// The users a run draws from (dataset indices).
    pub users: Vec<u32>,
    /// Replay: (user, arm) of every rating among the split's users, in file order.
    pub events: Vec<(u32, u32)>,
    /// The singular values kept, largest first.
    pub singular_values: Vec<f64>,
}

impl MovieLensWorld {
    /// Derives the world. Errors name the setting at fault.
    pub fn build(data: Arc<MovieLens>, s: &MovieLensSettings) -> Result<MovieLensWorld, (&'static str, String)> {
        let movies = data.most_rated(s.arms).map_err(|m| ("arms", m))?;
        let n = data.users.len();
        let k = s.arms;
        if n < 2 {
            return Err(("data", format!("has {n} users; a contextual bandit needs at least 2")));
        }
        let mut column = vec![usize::MAX; data.movies.len()];
        for (a, &m) in movies.iter().enumerate() {
            column[m] = a;
        }
        let mut ratings = vec![0.0; n * k];
        for r in &data.ratings {
            let a = column[r.movie as usize];
            if a != usize::MAX {
                ratings[r.user as usize * k + a] = r.rating;
            }
        }
        let dim = s.rank.min(k);
        let (u, sv, v) = truncated_svd(&ratings, n, k, dim);
        let mut rewards = vec![0.0; n * k];
        for i in 0..n {
            for a in 0..k {
                rewards[i * k + a] = (0..dim).map(|j| u[i * dim + j] * sv[j] * v[a * dim + j]).sum();
            }
        }
        let mut contexts = u;
        if s.features == UserFeatures::Scaled {
            for row in contexts.chunks_exact_mut(dim) {
                row.iter_mut().zip(&sv).for_each(|(x, s)| *x *= s);
            }
            let max =
                contexts.chunks_exact(dim).map(|r| r.iter().map(|x| x * x).sum::<f64>().sqrt()).fold(0.0, f64::max);
            if max > 0.0 {
                contexts.iter_mut().for_each(|x| *x /= max);
            }
        }
        // The split: one shuffle of all users, seeded by the data and split_seed only.
        let fingerprint = data.fingerprint();
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut rng =
            rng::stream(s.split_seed, Role::Instance, &["movielens-split", &format!("{fingerprint:016x}")], 0);
        for i in (1..n).rev() {
            order.swap(i, rng::index(&mut rng, i + 1));
        }
        if s.users != UserSplit::All && (s.train_users == 0 || s.train_users >= n) {
            return Err((
                "train_users",
                format!(
                    "is {}; with users = \"{}\" it must be between 1 and {} (the data has {n} users)",
                    s.train_users,
                    s.users.name(),
                    n - 1
                ),
            ));
        }
        let users: Vec<u32> = match s.users {
            UserSplit::Train => order[..s.train_users].to_vec(),
            UserSplit::Eval => order[s.train_users..].to_vec(),
            UserSplit::All => order,
        };
        let mut in_split = vec![false; n];
        users.iter().for_each(|&u| in_split[u as usize] = true);
        let events: Vec<(u32, u32)> = data
            .ratings
            .iter()
            .filter(|r| in_split[r.user as usize] && column[r.movie as usize] != usize::MAX)
            .map(|r| (r.user, column[r.movie as usize] as u32))
            .collect();
        if s.evaluation == Evaluation::Replay {
            let mut seen = vec![false; k];
            events.iter().for_each(|&(_, a)| seen[a as usize] = true);
            if let Some(a) = seen.iter().position(|s| !s) {
                return Err((
                    "evaluation",
                    format!(
                        "replay needs ratings of every arm among the {} users, but nobody there rated arm {a} ({}); use more users or fewer arms",
                        s.users.name(),
                        data.movies[movies[a]].title
                    ),
                ));
            }
        }
        Ok(MovieLensWorld {
            fingerprint,
            data,
            movies,
            dim,
            contexts,
            rewards,
            ratings,
            users,
            events,
            singular_values: sv,
        })
    }

    /// The context of user `u`.
    pub fn context(&self, u: usize) -> &[f64] {
        &self.contexts[u * self.dim..(u + 1) * self.dim]
    }

    /// The expected rewards of user `u`, one per arm.
    pub fn rewards_of(&self, u: usize) -> &[f64] {
        let k = self.movies.len();
        &self.rewards[u * k..(u + 1) * k]
    }

    /// User `u`'s ratings of the arms (0 = not rated).
    pub fn ratings_of(&self, u: usize) -> &[f64] {
        let k = self.movies.len();
        &self.ratings[u * k..(u + 1) * k]
    }
}

/// The rank-`r` truncated SVD of the row-major n × k matrix `m`: U (n × r, row-major), the r
/// largest singular values, V (k × r, row-major). Signs are fixed so that each right-singular
/// vector's entry of largest magnitude is positive, which makes the factors reproducible.
fn truncated_svd(m: &[f64], n: usize, k: usize, r: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mat = DMatrix::from_row_slice(n, k, m);
    let svd = mat.svd(true, true);
    let (u, vt) = (svd.u.expect("U was requested"), svd.v_t.expect("Vᵀ was requested"));
    let mut idx: Vec<usize> = (0..svd.singular_values.len()).collect();
    idx.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]).then(a.cmp(&b)));
    let (mut uu, mut sv, mut vv) = (vec![0.0; n * r], vec![0.0; r], vec![0.0; k * r]);
    for (j, &c) in idx.iter().take(r).enumerate() {
        sv[j] = svd.singular_values[c];
        let big = (0..k).map(|a| vt[(c, a)]).fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        for a in 0..k {
            vv[a * r + j] = sign * vt[(c, a)];
        }
        for i in 0..n {
            uu[i * r + j] = sign * u[(i, c)];
        }
    }
    (uu, sv, vv)
}

/// The model-based MovieLens environment of one run.
pub struct MovieLensEnv<'a> {
    pub world: &'a MovieLensWorld,
    pub sigma: f64,
}

impl ContextualEnvironment for MovieLensEnv<'_> {
    #[inline]
    fn observe(&mut self, ctx: &mut Context, means: &mut [f64], rng: &mut Stream) {
        let w = self.world;
        let u = w.users[rng::index(rng, w.users.len())] as usize;
        ctx.shared.copy_from_slice(w.context(u));
        ctx.user = Some(u);
        means.copy_from_slice(w.rewards_of(u));
    }

    #[inline]
    fn reward(&mut self, arm: usize, means: &[f64], rng: &mut Stream) -> f64 {
        if self.sigma > 0.0 { means[arm] + self.sigma * rng::normal(rng) } else { means[arm] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svd_reconstructs_and_fixes_signs() {
        // A rank-2 matrix: the rank-2 reconstruction is exact, rank 1 is not.
        let (n, k) = (5, 3);
        let m: Vec<f64> =
            (0..n * k).map(|i| ((i / k) as f64 + 1.0) * ((i % k) as f64) + ((i % k) == 1) as u8 as f64).collect();
        let (u, s, v) = truncated_svd(&m, n, k, 2);
        assert!(s[0] >= s[1] && s[1] > 0.0);
        for i in 0..n {
            for a in 0..k {
                let rec: f64 = (0..2).map(|j| u[i * 2 + j] * s[j] * v[a * 2 + j]).sum();
                assert!((rec - m[i * k + a]).abs() < 1e-9, "{i},{a}");
            }
        }
        for j in 0..2 {
            let big = (0..k).map(|a| v[a * 2 + j]).fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            assert!(big > 0.0);
        }
    }
}
