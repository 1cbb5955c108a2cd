//! Policies: the decision-makers. A policy is a value with an ask/tell pair — [`Policy::select`]
//! an arm, then [`Policy::update`] with the reward observed — and all its randomness comes from
//! the stream passed in by the harness.
//!
//! This module also holds the registry of every policy Armada knows ([`POLICIES`]): its name,
//! reference, declared parameters and defaults. A validated [`PolicySpec`] builds a fresh
//! [`AnyPolicy`] for each run. The harness dispatches on `AnyPolicy` once per run and then runs
//! a monomorphized loop ([`PolicyVisitor`]), so there is no dynamic dispatch per step.

pub mod agent;
pub mod contextual;
pub mod params;
pub mod ridge;

mod bayes_ucb;
mod epsilon_greedy;
mod exp3;
mod explore_then_commit;
mod glr;
mod kl_ucb;
mod linear;
mod linucb_hybrid;
mod moss;
mod nonstationary;
mod random;
mod successive_elimination;
#[cfg(test)]
pub(crate) mod testing;
mod thompson;
mod tsallis_inf;
mod ucb;
mod ucb_v;

pub use agent::{Agent, AgentFactory, AgentParser, AgentRun, AgentStats, Decision, RewardKind};
pub use bayes_ucb::BayesUcb;
pub use contextual::{AnyContextualPolicy, ContextBlind, ContextInfo, ContextualPolicy, ContextualVisitor};
pub use epsilon_greedy::{EpsilonGreedy, EpsilonSchedule};
pub use exp3::{Exp3, Exp3Ix, Hedge};
pub use explore_then_commit::ExploreThenCommit;
pub use glr::{GlrConfig, GlrExploration, GlrKlUcb, GlrRestart, GlrThreshold, glr_threshold};
pub use kl_ucb::{KlUcb, kl_bernoulli};
pub use linear::{LinEpsilonGreedy, LinTs, LinUcb, SquareCb};
pub use linucb_hybrid::LinUcbHybrid;
pub use moss::Moss;
pub use nonstationary::{CusumUcb, DiscountedThompson, DiscountedUcb, SlidingWindowUcb};
pub use random::Random;
pub use successive_elimination::SuccessiveElimination;
pub use thompson::{ThompsonBeta, ThompsonGaussian};
pub use tsallis_inf::{TsallisInf, tsallis_weights};
pub use ucb::Ucb;
pub use ucb_v::UcbV;

use crate::env::RewardModel;
use crate::rng::Stream;
pub use params::{ParamDef, ParamKind, ParamValue};

/// What a policy is told when a run starts: the number of arms, the horizon, and the reward
/// family with its noise scale (never the means).
#[derive(Clone, Copy, Debug)]
pub struct BanditInfo<'a> {
    pub arms: usize,
    pub horizon: u64,
    pub reward_model: &'a RewardModel,
}

impl BanditInfo<'_> {
    /// The noise scale a Gaussian-model policy should assume for `arm`: the environment's σ
    /// when it is Gaussian, 1/2 otherwise (rewards in [0, 1] are 1/2-sub-Gaussian).
    pub fn sigma(&self, arm: usize) -> f64 {
        match self.reward_model {
            RewardModel::Gaussian { sigmas } => sigmas[arm],
            RewardModel::Bernoulli => 0.5,
        }
    }
}

/// The ask/tell contract of a (non-contextual) bandit policy.
pub trait Policy {
    /// Whether the policy learns from full information: after each step the harness tells it
    /// every arm's reward ([`Policy::update_all`]) instead of the pulled arm's alone. A
    /// constant, so the step loop is monomorphized without a branch per step.
    const FULL_INFORMATION: bool = false;
    /// Chooses the arm to pull at the next step.
    fn select(&mut self, rng: &mut Stream) -> usize;
    /// Observes the reward of the arm just pulled.
    fn update(&mut self, arm: usize, reward: f64, rng: &mut Stream);
    /// Observes the reward of every arm this step (`arm` was pulled); called instead of
    /// [`Policy::update`] when [`Policy::FULL_INFORMATION`] is set.
    fn update_all(&mut self, arm: usize, rewards: &[f64], rng: &mut Stream) {
        self.update(arm, rewards[arm], rng);
    }
}

/// A boxed policy is the policy (for large ones kept out of line in [`AnyPolicy`]).
impl<P: Policy> Policy for Box<P> {
    const FULL_INFORMATION: bool = P::FULL_INFORMATION;
    #[inline(always)]
    fn select(&mut self, rng: &mut Stream) -> usize {
        (**self).select(rng)
    }
    #[inline(always)]
    fn update(&mut self, arm: usize, reward: f64, rng: &mut Stream) {
        (**self).update(arm, reward, rng)
    }
    #[inline(always)]
    fn update_all(&mut self, arm: usize, rewards: &[f64], rng: &mut Stream) {
        (**self).update_all(arm, rewards, rng)
    }
}

/// A generic operation over any concrete policy type; [`AnyPolicy::visit`] calls it with the
/// concrete type, so the operation is monomorphized per policy.
pub trait PolicyVisitor {
    type Output;
    fn visit<P: Policy>(self, policy: &mut P) -> Self::Output;
}

macro_rules! any_policy {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// One of Armada's policies, as a closed enum.
        pub enum AnyPolicy { $($variant($ty)),* }

        impl AnyPolicy {
            /// Runs `visitor` on the concrete policy inside.
            pub fn visit<V: PolicyVisitor>(&mut self, visitor: V) -> V::Output {
                match self { $(AnyPolicy::$variant(p) => visitor.visit(p)),* }
            }
        }

        impl Policy for AnyPolicy {
            fn select(&mut self, rng: &mut Stream) -> usize {
                match self { $(AnyPolicy::$variant(p) => p.select(rng)),* }
            }
            fn update(&mut self, arm: usize, reward: f64, rng: &mut Stream) {
                match self { $(AnyPolicy::$variant(p) => p.update(arm, reward, rng)),* }
            }
            fn update_all(&mut self, arm: usize, rewards: &[f64], rng: &mut Stream) {
                match self {
                    $(AnyPolicy::$variant(p) => if <$ty as Policy>::FULL_INFORMATION {
                        p.update_all(arm, rewards, rng)
                    } else {
                        p.update(arm, rewards[arm], rng)
                    }),*
                }
            }
        }
    };
}

any_policy! {
    Random(Random),
    EpsilonGreedy(EpsilonGreedy),
    ExploreThenCommit(ExploreThenCommit),
    SuccessiveElimination(SuccessiveElimination),
    Ucb(Ucb),
    UcbV(UcbV),
    KlUcb(KlUcb),
    Moss(Moss),
    ThompsonBeta(ThompsonBeta),
    ThompsonGaussian(ThompsonGaussian),
    BayesUcb(BayesUcb),
    Exp3(Exp3),
    Exp3Ix(Exp3Ix),
    Hedge(Hedge),
    TsallisInf(TsallisInf),
    SlidingWindowUcb(SlidingWindowUcb),
    DiscountedUcb(DiscountedUcb),
    DiscountedThompson(DiscountedThompson),
    CusumUcb(CusumUcb),
    // Boxed: its settings and sample pool would make every AnyPolicy twice as large.
    GlrKlUcb(Box<GlrKlUcb>),
}

/// A policy in the registry.
#[derive(Debug)]
pub struct PolicyDef {
    /// The name used in spec files (`[[policy]] name = "..."`).
    pub name: &'static str,
    /// The algorithm it runs; two names may share one (`ucb1` is `ucb` with α = 2). The
    /// policy's identity uses this, so equal algorithms with equal parameters are one policy.
    pub algorithm: &'static str,
    /// Whether the policy reads the context (and so needs a contextual environment). Classic
    /// policies run on contextual environments too, blind to the context.
    pub contextual: bool,
    pub summary: &'static str,
    pub reference: &'static str,
    pub params: &'static [ParamDef],
}

const FAMILY: ParamDef = ParamDef {
    name: "family",
    kind: ParamKind::Choice(&["auto", "bernoulli", "gaussian"]),
    default: ParamValue::Choice("auto"),
    doc: "reward model: \"auto\" follows the environment (Bernoulli, or Gaussian with its known sigma)",
};
const REWARD_MIN: ParamDef = ParamDef {
    name: "reward_min",
    kind: ParamKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY, min_open: false },
    default: ParamValue::Float(0.0),
    doc: "rewards are mapped to losses (reward_max - r)/(reward_max - reward_min), clipped to [0, 1]",
};
const REWARD_MAX: ParamDef = ParamDef {
    name: "reward_max",
    kind: ParamKind::Float { min: f64::NEG_INFINITY, max: f64::INFINITY, min_open: false },
    default: ParamValue::Float(1.0),
    doc: "upper end of the reward range (see reward_min)",
};
const EPSILON: ParamDef = ParamDef {
    name: "epsilon",
    kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: false },
    default: ParamValue::Float(0.1),
    doc: "exploration probability (schedule = \"fixed\")",
};
const SCHEDULE: ParamDef = ParamDef {
    name: "schedule",
    kind: ParamKind::Choice(&["fixed", "decaying"]),
    default: ParamValue::Choice("fixed"),
    doc: "\"fixed\": eps = epsilon; \"decaying\": eps_t = min(1, (K ln t / t)^(1/3))",
};
const XI: ParamDef = ParamDef {
    name: "xi",
    kind: POSITIVE,
    default: ParamValue::Float(0.6),
    doc: "exploration constant inside the square root",
};
const SCALE: ParamDef = ParamDef {
    name: "scale",
    kind: POSITIVE,
    default: ParamValue::Float(1.0),
    doc: "B, the width of the reward range",
};
const LAMBDA: ParamDef = ParamDef {
    name: "lambda",
    kind: POSITIVE,
    default: ParamValue::Float(1.0),
    doc: "ridge penalty: each arm's model starts from A = lambda I, b = 0",
};
const POSITIVE: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: true };
const NON_NEGATIVE: ParamKind = ParamKind::Float { min: 0.0, max: f64::INFINITY, min_open: false };

/// Every policy Armada knows, in the order `armada list` shows them.
pub const POLICIES: &[PolicyDef] = &[
    PolicyDef {
        name: "random",
        algorithm: "random",
        contextual: false,
        summary: "uniform random arm at every step (the no-learning baseline)",
        reference: "-",
        params: &[],
    },
    PolicyDef {
        name: "greedy",
        algorithm: "greedy",
        contextual: false,
        summary: "each arm once, then the best empirical mean; no exploration bonus",
        reference: "Slivkins (2019), ch. 1",
        params: &[],
    },
    PolicyDef {
        name: "epsilon-greedy",
        algorithm: "epsilon-greedy",
        contextual: false,
        summary: "with probability eps a uniform arm, otherwise the best empirical mean (unpulled arms first)",
        reference: "Slivkins (2019), sec. 1.2; decaying schedule eps_t = (K ln t / t)^(1/3), Thm 1.6",
        params: &[EPSILON, SCHEDULE],
    },
    PolicyDef {
        name: "explore-then-commit",
        algorithm: "explore-then-commit",
        contextual: false,
        summary: "m pulls of every arm round-robin, then commit to the best empirical mean",
        reference: "Slivkins (2019), sec. 1.2 (explore-first)",
        params: &[ParamDef {
            name: "m",
            kind: ParamKind::Count { min: 1 },
            default: ParamValue::Auto,
            doc: "pulls per arm; auto = ceil((T/K)^(2/3) (ln T)^(1/3)), at most T/K",
        }],
    },
    PolicyDef {
        name: "successive-elimination",
        algorithm: "successive-elimination",
        contextual: false,
        summary: "cycle through active arms; drop an arm once its UCB falls below another's LCB",
        reference: "Even-Dar, Mannor, Mansour (2006); Slivkins (2019), sec. 1.3.1",
        params: &[ParamDef {
            name: "c",
            kind: POSITIVE,
            default: ParamValue::Float(2.0),
            doc: "confidence radius sqrt(c ln T / n)",
        }],
    },
    PolicyDef {
        name: "ucb",
        algorithm: "ucb",
        contextual: false,
        summary: "each arm once, then argmax mean + sqrt(alpha ln t / n) (BanditBench's convention)",
        reference: "Auer, Cesa-Bianchi, Fischer (2002); alpha inside the root as in EVOLvE/BanditBench",
        params: &[ParamDef {
            name: "alpha",
            kind: POSITIVE,
            default: ParamValue::Float(0.5),
            doc: "exploration coefficient inside the square root; 0.5 = BanditBench, 2 = Auer's UCB1",
        }],
    },
    PolicyDef {
        name: "ucb1",
        algorithm: "ucb",
        contextual: false,
        summary: "Auer's UCB1: argmax mean + sqrt(2 ln t / n) (ucb with alpha = 2)",
        reference: "Auer, Cesa-Bianchi, Fischer (2002), Fig. 1",
        params: &[ParamDef {
            name: "alpha",
            kind: POSITIVE,
            default: ParamValue::Float(2.0),
            doc: "exploration coefficient inside the square root",
        }],
    },
    PolicyDef {
        name: "ucb-v",
        algorithm: "ucb-v",
        contextual: false,
        summary: "UCB with an empirical-variance (Bernstein) bonus",
        reference: "Audibert, Munos, Szepesvari (2009), eq. (2); defaults from their experiments",
        params: &[
            ParamDef {
                name: "zeta",
                kind: POSITIVE,
                default: ParamValue::Float(1.2),
                doc: "exploration function E_t = zeta ln t",
            },
            ParamDef { name: "c", kind: POSITIVE, default: ParamValue::Float(1.0), doc: "weight of the range term" },
            ParamDef {
                name: "b",
                kind: POSITIVE,
                default: ParamValue::Float(1.0),
                doc: "reward range (rewards in [0, b])",
            },
        ],
    },
    PolicyDef {
        name: "kl-ucb",
        algorithm: "kl-ucb",
        contextual: false,
        summary: "argmax of the largest q with n KL(mean, q) <= ln t + c ln ln t",
        reference: "Garivier, Cappe (2011); c = 0 as in their experiments",
        params: &[
            FAMILY,
            ParamDef {
                name: "c",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(0.0),
                doc: "weight of ln ln t (3 in the theorem)",
            },
        ],
    },
    PolicyDef {
        name: "moss",
        algorithm: "moss",
        contextual: false,
        summary: "argmax mean + sqrt(max(0, ln(T / (K n))) / n)",
        reference: "Audibert, Bubeck (2009)",
        params: &[],
    },
    PolicyDef {
        name: "thompson",
        algorithm: "thompson",
        contextual: false,
        summary: "posterior sampling: Beta(1+S, 1+F) for Bernoulli, N(S/(n+1), sigma^2/(n+1)) for Gaussian",
        reference: "Thompson (1933); Agrawal, Goyal (2012, 2013)",
        params: &[FAMILY],
    },
    PolicyDef {
        name: "bayes-ucb",
        algorithm: "bayes-ucb",
        contextual: false,
        summary: "argmax of the posterior quantile 1 - 1/(t (ln T)^c)",
        reference: "Kaufmann, Cappe, Garivier (2012); c = 0 as in their experiments",
        params: &[
            FAMILY,
            ParamDef {
                name: "c",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(0.0),
                doc: "quantile exponent (5 in the theorem)",
            },
        ],
    },
    PolicyDef {
        name: "exp3",
        algorithm: "exp3",
        contextual: false,
        summary: "exponential weights on importance-weighted losses (adversarial bandits)",
        reference: "Auer, Cesa-Bianchi, Freund, Schapire (2002); Slivkins (2019), ch. 6",
        params: &[
            ParamDef {
                name: "eta",
                kind: POSITIVE,
                default: ParamValue::Auto,
                doc: "learning rate; auto = sqrt(2 ln K / (K T))",
            },
            ParamDef {
                name: "gamma",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: false },
                default: ParamValue::Float(0.0),
                doc: "weight of the uniform mixture",
            },
            REWARD_MIN,
            REWARD_MAX,
        ],
    },
    PolicyDef {
        name: "hedge",
        algorithm: "hedge",
        contextual: false,
        summary: "exponential weights with full information: every arm's reward after each step (not on contextual environments)",
        reference: "Freund & Schapire (1997); Slivkins (2019), ch. 5",
        params: &[
            ParamDef {
                name: "eta",
                kind: POSITIVE,
                default: ParamValue::Auto,
                doc: "learning rate; auto = sqrt(8 ln K / T)",
            },
            REWARD_MIN,
            REWARD_MAX,
        ],
    },
    PolicyDef {
        name: "exp3-ix",
        algorithm: "exp3-ix",
        contextual: false,
        summary: "EXP3 with implicit exploration: loss estimates l / (p + gamma)",
        reference: "Neu (2015); Lattimore, Szepesvari (2020), ch. 12",
        params: &[
            ParamDef {
                name: "eta",
                kind: POSITIVE,
                default: ParamValue::Auto,
                doc: "learning rate; auto = sqrt(2 ln K / (K T))",
            },
            ParamDef {
                name: "gamma",
                kind: NON_NEGATIVE,
                default: ParamValue::Auto,
                doc: "implicit exploration; auto = eta / 2",
            },
            REWARD_MIN,
            REWARD_MAX,
        ],
    },
    PolicyDef {
        name: "tsallis-inf",
        algorithm: "tsallis-inf",
        contextual: false,
        summary: "1/2-Tsallis-INF (best of both worlds), eta_t = 2/sqrt(t), safeguarded normalisation",
        reference: "Zimmert, Seldin (2021), Alg. 1",
        params: &[REWARD_MIN, REWARD_MAX],
    },
    PolicyDef {
        name: "sw-ucb",
        algorithm: "sw-ucb",
        contextual: false,
        summary: "sliding-window UCB: statistics of the last tau plays, bonus sqrt(xi ln min(t, tau) / N)",
        reference: "Garivier, Moulines (2011); xi = 0.6 and tau = 2 sqrt(T ln T) from their tuning",
        params: &[
            ParamDef {
                name: "window",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Auto,
                doc: "tau, plays remembered; auto = ceil(2 sqrt(T ln T)) (one change point, rewards in [0, 1])",
            },
            XI,
            SCALE,
        ],
    },
    PolicyDef {
        name: "discounted-ucb",
        algorithm: "discounted-ucb",
        contextual: false,
        summary: "discounted UCB: plays weigh gamma^age, bonus 2 sqrt(xi ln n / N) on discounted counts",
        reference: "Garivier, Moulines (2011); gamma = 1 - 1/(4 sqrt(T)) from their tuning",
        params: &[
            ParamDef {
                name: "gamma",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: true },
                default: ParamValue::Auto,
                doc: "discount per step; auto = 1 - 1/(4 sqrt(T))",
            },
            XI,
            SCALE,
        ],
    },
    PolicyDef {
        name: "discounted-thompson",
        algorithm: "discounted-thompson",
        contextual: false,
        summary: "Thompson sampling on Beta(1 + S, 1 + F) whose counts decay by gamma every step",
        reference: "Raj, Kalyani (2017)",
        params: &[ParamDef {
            name: "gamma",
            kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: true },
            default: ParamValue::Auto,
            doc: "discount per step; auto = 1 - 1/(4 sqrt(T))",
        }],
    },
    PolicyDef {
        name: "cusum-ucb",
        algorithm: "cusum-ucb",
        contextual: false,
        summary: "UCB on each arm's samples since its last change alarm; two-sided CUSUM per arm; uniform exploration alpha",
        reference: "Liu, Lee, Shroff (2018), CUSUM-UCB; defaults h = ln T, alpha = sqrt(ln T / T) (one change point)",
        params: &[
            ParamDef {
                name: "warmup",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Count(100),
                doc: "M, samples that set an arm's reference mean after each reset",
            },
            ParamDef {
                name: "drift",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(0.1),
                doc: "epsilon, subtracted from every deviation: about half the smallest change worth detecting",
            },
            ParamDef {
                name: "threshold",
                kind: POSITIVE,
                default: ParamValue::Auto,
                doc: "h, the alarm level of the CUSUM statistics; auto = ln T",
            },
            ParamDef {
                name: "alpha",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: false },
                default: ParamValue::Auto,
                doc: "probability of a uniform arm (keeps every arm watched); auto = sqrt(ln T / T)",
            },
        ],
    },
    PolicyDef {
        name: "glr-klucb",
        algorithm: "glr-klucb",
        contextual: false,
        summary: "kl-UCB on each arm's samples since its last restart; Bernoulli GLR change test on the arm played; forced exploration alpha",
        reference: "Besson, Kaufmann, Maillard, Seznec (JMLR 2022), Alg. 1; alpha and delta from its corollaries",
        params: &[
            ParamDef {
                name: "restart",
                kind: ParamKind::Choice(&["global", "local"]),
                default: ParamValue::Choice("global"),
                doc: "what an alarm forgets: every arm (the variant of the main regret bound) or only the arm that raised it",
            },
            ParamDef {
                name: "changes",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Auto,
                doc: "Upsilon, the number of change points if known (alpha = alpha0 sqrt(Upsilon A ln T / T), delta = 1/sqrt(Upsilon T)); auto = unknown",
            },
            ParamDef {
                name: "alpha",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: false },
                default: ParamValue::Auto,
                doc: "forced-exploration rate; auto = alpha0 sqrt(k A ln T / T) in the k-th episode (after k - 1 alarms), or from changes",
            },
            ParamDef {
                name: "alpha0",
                kind: POSITIVE,
                default: ParamValue::Float(0.1),
                doc: "scale of the automatic alpha (1 in the paper's corollaries; 0.1 had lower regret on every instance measured)",
            },
            ParamDef {
                name: "delta",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: true },
                default: ParamValue::Auto,
                doc: "confidence level of the GLR test; auto = 1/sqrt(T), or 1/sqrt(changes T)",
            },
            ParamDef {
                name: "threshold",
                kind: ParamKind::Choice(&["theory", "simple"]),
                default: ParamValue::Choice("theory"),
                doc: "\"theory\": 2 T(ln(3 n^1.5 / delta)/2) + 6 ln(1 + ln n), T(x) ~ x + 4 ln(1 + x + sqrt(2x)), false alarms about <= delta (T is approximated); \"simple\": ln(3 n^1.5 / delta)",
            },
            ParamDef {
                name: "exploration",
                kind: ParamKind::Choice(&["deterministic", "random"]),
                default: ParamValue::Choice("deterministic"),
                doc: "\"deterministic\": arm u mod ceil(A/alpha) when below A, u the steps since the latest restart (the paper's); \"random\": a uniform arm with probability alpha",
            },
            ParamDef {
                name: "check_every",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Count(10),
                doc: "Delta n: test an arm when its sample count is a multiple of this",
            },
            ParamDef {
                name: "split_every",
                kind: ParamKind::Count { min: 1 },
                default: ParamValue::Count(10),
                doc: "Delta s: the change positions tested are the multiples of this",
            },
            ParamDef {
                name: "c",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(3.0),
                doc: "weight of ln ln in the index's exploration function ln x + c ln ln x, x the steps since the arm's restart",
            },
        ],
    },
    PolicyDef {
        name: "linucb",
        algorithm: "linucb",
        contextual: true,
        summary: "disjoint LinUCB: per-arm ridge regression, argmax theta^T x + alpha sqrt(x^T A^-1 x)",
        reference: "Li, Chu, Langford, Schapire (2010), Alg. 1",
        params: &[
            ParamDef {
                name: "alpha",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(1.0),
                doc: "width of the confidence bonus",
            },
            LAMBDA,
        ],
    },
    PolicyDef {
        name: "linucb-banditbench",
        algorithm: "linucb",
        contextual: true,
        summary: "LinUCB with BanditBench's settings (alpha = 0.5, lambda = 1)",
        reference: "EVOLvE/BanditBench (Nie et al. 2024), classic LinUCB agent",
        params: &[
            ParamDef {
                name: "alpha",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(0.5),
                doc: "width of the confidence bonus",
            },
            LAMBDA,
        ],
    },
    PolicyDef {
        name: "linucb-hybrid",
        algorithm: "linucb-hybrid",
        contextual: true,
        summary: "hybrid LinUCB: per-arm theta on the shared context plus one beta on the arms' own features",
        reference: "Li, Chu, Langford, Schapire (2010), Alg. 2",
        params: &[
            ParamDef {
                name: "alpha",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(1.0),
                doc: "width of the confidence bonus",
            },
            LAMBDA,
        ],
    },
    PolicyDef {
        name: "lints",
        algorithm: "lints",
        contextual: true,
        summary: "linear Thompson sampling: argmax of theta~^T x, theta~ ~ N(theta_hat, v^2 A^-1), per arm",
        reference: "Agrawal, Goyal (2013)",
        params: &[
            ParamDef {
                name: "v",
                kind: NON_NEGATIVE,
                default: ParamValue::Float(1.0),
                doc: "posterior scale (the noise standard deviation for a Bayesian posterior)",
            },
            LAMBDA,
        ],
    },
    PolicyDef {
        name: "lin-epsilon-greedy",
        algorithm: "lin-epsilon-greedy",
        contextual: true,
        summary: "with probability eps a uniform arm, otherwise argmax of the per-arm ridge prediction",
        reference: "Slivkins (2019), ch. 8; Langford, Zhang (2007)",
        params: &[EPSILON, SCHEDULE, LAMBDA],
    },
    PolicyDef {
        name: "squarecb",
        algorithm: "squarecb",
        contextual: true,
        summary: "inverse-gap weighting on per-arm ridge predictions: p_a = 1/(K + gamma_t (best - pred_a))",
        reference: "Foster, Rakhlin (2020); gamma_t = scale t^exponent as in Vowpal Wabbit",
        params: &[
            ParamDef {
                name: "gamma_scale",
                kind: POSITIVE,
                default: ParamValue::Float(10.0),
                doc: "gamma_t = gamma_scale * t^gamma_exponent",
            },
            ParamDef {
                name: "gamma_exponent",
                kind: ParamKind::Float { min: 0.0, max: 1.0, min_open: false },
                default: ParamValue::Float(0.5),
                doc: "growth of gamma_t with the step t",
            },
            LAMBDA,
        ],
    },
];

impl PolicyDef {
    /// Whether the policy learns from every arm's reward (Hedge), which contextual environments
    /// do not give (the harness passes only the pulled arm's reward there).
    pub fn full_information(&self) -> bool {
        self.algorithm == "hedge"
    }
}

/// The registry entry every agent's [`PolicySpec`] points to (agents are not in [`POLICIES`]).
pub const AGENT: PolicyDef = PolicyDef {
    name: "agent",
    algorithm: "agent",
    contextual: false,
    summary: "a decision-maker defined outside the core (e.g. an LLM agent)",
    reference: "",
    params: &[],
};

/// Looks a policy up by name: the classic and contextual registry, then each structured
/// family's own policies ([`crate::family::KINDS`]).
pub fn find_policy(name: &str) -> Option<&'static PolicyDef> {
    let families = crate::family::KINDS.iter().flat_map(|k| k.policies);
    POLICIES.iter().chain(families).find(|d| d.name == name)
}

/// A validated policy: a registry entry and a value for every declared parameter.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    /// The name shown in tables and files (unique within an experiment).
    pub label: String,
    pub def: &'static PolicyDef,
    /// One value per declared parameter, in declaration order.
    pub params: Vec<ParamValue>,
    /// For an agent (a `[[policy]]` claimed by an [`AgentParser`]): its factory. `def` is then
    /// [`AGENT`] and `params` is empty.
    pub agent: Option<std::sync::Arc<dyn AgentFactory>>,
}

impl PolicySpec {
    /// A policy with every parameter at its default.
    pub fn with_defaults(def: &'static PolicyDef) -> Self {
        PolicySpec {
            label: def.name.to_string(),
            def,
            params: def.params.iter().map(|p| p.default.clone()).collect(),
            agent: None,
        }
    }

    /// An agent built by `factory`, shown as `label`.
    pub fn agent(label: String, factory: std::sync::Arc<dyn AgentFactory>) -> Self {
        PolicySpec { label, def: &AGENT, params: Vec::new(), agent: Some(factory) }
    }

    /// The canonical description that seeds this policy's random stream: algorithm and every
    /// parameter value, e.g. `ucb(alpha=0.5)`. Not the label and not the position in the spec.
    pub fn identity(&self) -> String {
        if let Some(agent) = &self.agent {
            return agent.identity();
        }
        let parts: Vec<String> =
            self.def.params.iter().zip(&self.params).map(|(d, v)| format!("{}={v}", d.name)).collect();
        format!("{}({})", self.def.algorithm, parts.join(","))
    }

    /// The value of a declared parameter.
    pub fn get(&self, name: &str) -> &ParamValue {
        let i = self.def.params.iter().position(|p| p.name == name);
        &self.params[i.unwrap_or_else(|| panic!("policy {} has no parameter {name}", self.def.name))]
    }

    /// The value of a float parameter (panics if `name` is not one: a registry bug).
    pub fn float(&self, name: &str) -> f64 {
        match self.get(name) {
            ParamValue::Float(x) => *x,
            other => panic!("parameter {name} of {} is {other:?}, not a number", self.def.name),
        }
    }

    /// A count parameter; `None` when it is `auto`.
    pub fn count_or_auto(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            ParamValue::Count(n) => Some(*n),
            ParamValue::Auto => None,
            other => panic!("parameter {name} of {} is {other:?}, not a count", self.def.name),
        }
    }

    /// A float parameter that may be `auto`.
    pub fn float_or_auto(&self, name: &str) -> Option<f64> {
        match self.get(name) {
            ParamValue::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The value of a choice parameter.
    pub fn choice(&self, name: &str) -> &'static str {
        match self.get(name) {
            ParamValue::Choice(s) => s,
            other => panic!("parameter {name} of {} is {other:?}, not a choice", self.def.name),
        }
    }

    /// The ε schedule of the ε-greedy policies (`schedule` and `epsilon`).
    fn epsilon_schedule(&self) -> EpsilonSchedule {
        match self.choice("schedule") {
            "decaying" => EpsilonSchedule::Decaying,
            _ => EpsilonSchedule::Fixed(self.float("epsilon")),
        }
    }

    /// Checks that involve several parameters; the error names the parameters.
    pub fn check(&self) -> Result<(), String> {
        if self.def.params.iter().any(|p| p.name == "reward_max") {
            let (lo, hi) = (self.float("reward_min"), self.float("reward_max"));
            if hi <= lo {
                return Err(format!("reward_max ({hi}) must be greater than reward_min ({lo})"));
            }
        }
        Ok(())
    }

    /// Whether the Bernoulli model applies under `family` for this environment.
    fn bernoulli_family(&self, info: &BanditInfo) -> bool {
        match self.choice("family") {
            "bernoulli" => true,
            "gaussian" => false,
            _ => matches!(info.reward_model, RewardModel::Bernoulli),
        }
    }

    /// A fresh policy for one run.
    pub fn build(&self, info: &BanditInfo) -> AnyPolicy {
        let range = || (self.float("reward_min"), self.float("reward_max"));
        match self.def.algorithm {
            "random" => AnyPolicy::Random(Random::new(info)),
            "greedy" => AnyPolicy::EpsilonGreedy(EpsilonGreedy::new(info, EpsilonSchedule::Fixed(0.0))),
            "epsilon-greedy" => AnyPolicy::EpsilonGreedy(EpsilonGreedy::new(info, self.epsilon_schedule())),
            "explore-then-commit" => {
                let m = match self.get("m") {
                    ParamValue::Count(m) => Some(*m),
                    _ => None,
                };
                AnyPolicy::ExploreThenCommit(ExploreThenCommit::new(info, m))
            }
            "successive-elimination" => {
                AnyPolicy::SuccessiveElimination(SuccessiveElimination::new(info, self.float("c")))
            }
            "ucb" => AnyPolicy::Ucb(Ucb::new(info, self.float("alpha"))),
            "ucb-v" => AnyPolicy::UcbV(UcbV::new(info, self.float("zeta"), self.float("c"), self.float("b"))),
            "kl-ucb" => AnyPolicy::KlUcb(KlUcb::new(info, self.bernoulli_family(info), self.float("c"))),
            "moss" => AnyPolicy::Moss(Moss::new(info)),
            "thompson" => {
                if self.bernoulli_family(info) {
                    AnyPolicy::ThompsonBeta(ThompsonBeta::new(info))
                } else {
                    AnyPolicy::ThompsonGaussian(ThompsonGaussian::new(info))
                }
            }
            "bayes-ucb" => AnyPolicy::BayesUcb(BayesUcb::new(info, self.bernoulli_family(info), self.float("c"))),
            "exp3" => AnyPolicy::Exp3(Exp3::new(info, self.float_or_auto("eta"), self.float("gamma"), range())),
            "exp3-ix" => {
                AnyPolicy::Exp3Ix(Exp3Ix::new(info, self.float_or_auto("eta"), self.float_or_auto("gamma"), range()))
            }
            "hedge" => AnyPolicy::Hedge(Hedge::new(info, self.float_or_auto("eta"), range())),
            "tsallis-inf" => AnyPolicy::TsallisInf(TsallisInf::new(info, range())),
            "sw-ucb" => {
                let window = match self.get("window") {
                    ParamValue::Count(w) => Some(*w),
                    _ => None,
                };
                AnyPolicy::SlidingWindowUcb(SlidingWindowUcb::new(info, window, self.float("xi"), self.float("scale")))
            }
            "discounted-ucb" => AnyPolicy::DiscountedUcb(DiscountedUcb::new(
                info,
                self.float_or_auto("gamma"),
                self.float("xi"),
                self.float("scale"),
            )),
            "cusum-ucb" => {
                let warmup = match self.get("warmup") {
                    ParamValue::Count(m) => *m,
                    _ => 100,
                };
                AnyPolicy::CusumUcb(CusumUcb::new(
                    info,
                    warmup,
                    self.float("drift"),
                    self.float_or_auto("threshold"),
                    self.float_or_auto("alpha"),
                ))
            }
            "discounted-thompson" => {
                AnyPolicy::DiscountedThompson(DiscountedThompson::new(info, self.float_or_auto("gamma")))
            }
            "glr-klucb" => AnyPolicy::GlrKlUcb(Box::new(GlrKlUcb::new(
                info,
                GlrConfig {
                    restart: if self.choice("restart") == "local" { GlrRestart::Local } else { GlrRestart::Global },
                    changes: self.count_or_auto("changes"),
                    alpha: self.float_or_auto("alpha"),
                    alpha0: self.float("alpha0"),
                    delta: self.float_or_auto("delta"),
                    threshold: if self.choice("threshold") == "simple" {
                        GlrThreshold::Simple
                    } else {
                        GlrThreshold::Theory
                    },
                    exploration: if self.choice("exploration") == "random" {
                        GlrExploration::Random
                    } else {
                        GlrExploration::Deterministic
                    },
                    check_every: self.count_or_auto("check_every").unwrap_or(10),
                    split_every: self.count_or_auto("split_every").unwrap_or(10),
                    c: self.float("c"),
                },
            ))),
            other if self.def.contextual => unreachable!("{other} needs a context; the spec checks this"),
            other => unreachable!("policy registry names an unknown algorithm {other}"),
        }
    }
}

impl PolicySpec {
    /// A fresh policy for one run on a contextual environment. Classic policies are built from
    /// `bandit` and play blind to the context.
    pub fn build_contextual(&self, info: &ContextInfo, bandit: &BanditInfo) -> AnyContextualPolicy {
        if !self.def.contextual {
            return AnyContextualPolicy::Blind(self.build(bandit));
        }
        let lambda = self.float("lambda");
        match self.def.algorithm {
            "linucb" => AnyContextualPolicy::LinUcb(LinUcb::new(info, self.float("alpha"), lambda)),
            "linucb-hybrid" => AnyContextualPolicy::LinUcbHybrid(LinUcbHybrid::new(info, self.float("alpha"), lambda)),
            "lints" => AnyContextualPolicy::LinTs(LinTs::new(info, self.float("v"), lambda)),
            "lin-epsilon-greedy" => {
                AnyContextualPolicy::LinEpsilonGreedy(LinEpsilonGreedy::new(info, self.epsilon_schedule(), lambda))
            }
            "squarecb" => AnyContextualPolicy::SquareCb(SquareCb::new(
                info,
                self.float("gamma_scale"),
                self.float("gamma_exponent"),
                lambda,
            )),
            other => unreachable!("policy registry names an unknown contextual algorithm {other}"),
        }
    }
}

/// Adds an importance-weighted loss estimate `loss / denom` to a cumulative estimate L̂ (the
/// EXP3 family and Tsallis-INF). `denom` is the probability the arm was drawn with (plus
/// EXP3-IX's γ), so it is positive. The cap keeps L̂ finite, so L̂ − min L̂ is never ∞ − ∞ (an
/// arm drawn with a subnormal probability could otherwise push its estimate to +∞).
#[inline(always)]
pub(crate) fn add_loss_estimate(cum_loss: &mut f64, loss: f64, denom: f64) {
    *cum_loss = (*cum_loss + loss / denom).min(f64::MAX);
}

/// Maps a reward to a loss in [0, 1] for the adversarial policies.
#[inline(always)]
pub(crate) fn loss_of(reward: f64, (lo, hi): (f64, f64)) -> f64 {
    ((hi - reward) / (hi - lo)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::contextual::{Context, ContextShape};

    #[test]
    fn names_are_unique_and_every_policy_builds() {
        let model = RewardModel::Bernoulli;
        let info = BanditInfo { arms: 4, horizon: 100, reward_model: &model };
        for (i, d) in POLICIES.iter().enumerate() {
            assert!(POLICIES[i + 1..].iter().all(|e| e.name != d.name), "duplicate {}", d.name);
            let spec = PolicySpec::with_defaults(d);
            spec.check().unwrap();
            let mut rng = crate::rng::stream(0, crate::rng::Role::Policy, &[d.name], 0);
            if !d.contextual {
                let mut p = spec.build(&info);
                for _ in 0..50 {
                    let a = p.select(&mut rng);
                    assert!(a < 4, "{} chose {a}", d.name);
                    p.update(a, 1.0, &mut rng);
                }
            }
            // Every policy runs on a contextual environment, classic ones blind to the context.
            let shape = ContextShape { arms: 4, dim: 3, arm_dim: 2 };
            let mut p = spec.build_contextual(&ContextInfo { shape, horizon: 100 }, &info);
            let mut ctx = Context::zeros(4, 3, 2);
            for t in 0..50 {
                ctx.shared.iter_mut().chain(ctx.per_arm.iter_mut()).for_each(|v| *v = crate::rng::normal(&mut rng));
                let a = p.select(&ctx, &mut rng);
                assert!(a < 4, "{} chose {a}", d.name);
                p.update(&ctx, a, (t % 3) as f64, &mut rng);
            }
        }
    }

    #[test]
    fn ucb1_is_ucb_with_alpha_two() {
        let ucb1 = PolicySpec::with_defaults(find_policy("ucb1").unwrap());
        let mut ucb = PolicySpec::with_defaults(find_policy("ucb").unwrap());
        assert_eq!(ucb.identity(), "ucb(alpha=0.5)");
        ucb.params[0] = ParamValue::Float(2.0);
        assert_eq!(ucb.identity(), ucb1.identity());
    }
}
