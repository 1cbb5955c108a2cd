//! Context layers: what the agent is shown before each decision, rendered as chat messages.
//!
//! Every prompt is a system message (the instruction: the scenario, the names, the goal, and for
//! the detailed instruction a paragraph on exploring and exploiting; then any demonstrations)
//! and a user message (what happened so far, the current situation on contextual environments,
//! and the question). What "so far" shows is the context layer:
//!
//! * **raw history** ([`Layer::Raw`]): one line per past round — arm and reward (and the
//!   situation on contextual environments) — optionally only the last `history` rounds;
//! * **summarized history** ([`Layer::Summary`]): one line per arm with its count and average
//!   reward, and the current round;
//! * **algorithm-guided** ([`Layer::Guided`]): the summary plus, per arm, a classic algorithm's
//!   exploitation value and exploration bonus (UCB, KL-UCB, a Thompson-sampling posterior, or
//!   LinUCB in the current context).
//!
//! The [`Prompter`] is the one renderer of prompts: the agent at inference, few-shot
//! demonstrations and fine-tuning exports all call it, so training prompts are byte-identical
//! to what the agent sends.

use crate::chat::Message;
use crate::scenario::Scenario;
use armada::policy::RewardKind;
use armada::policy::kl_bernoulli;
use armada::policy::ridge::RidgeArms;
use std::fmt::Write as _;

/// What the agent is shown about the past.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    Raw,
    Summary,
    Guided(Guide),
}

impl Layer {
    /// The layer's name in specs and tables (`raw`, `summary`, `guided`).
    pub fn name(&self) -> &'static str {
        match self {
            Layer::Raw => "raw",
            Layer::Summary => "summary",
            Layer::Guided(_) => "guided",
        }
    }
}

/// The classic algorithm whose values an algorithm-guided prompt shows.
#[derive(Clone, Debug, PartialEq)]
pub enum Guide {
    /// UCB with bonus √(α ln N / n_a), N the total number of rounds played (BanditBench's form).
    Ucb { alpha: f64 },
    /// KL-UCB (Bernoulli KL, or the Gaussian closed form): bonus = index − mean, with ln t.
    KlUcb,
    /// Thompson sampling's posterior per arm (Beta(1+S, 1+n−S) for 0/1 rewards, else
    /// N(mean, σ²/n)): the posterior mean as value and its standard deviation as bonus.
    Thompson,
    /// LinUCB in the current context: θ̂ᵀx as value, α√(xᵀA⁻¹x) as bonus (ridge λ = 1).
    LinUcb { alpha: f64 },
}

impl Guide {
    /// The guide's name in specs (`ucb`, `kl-ucb`, `thompson`, `linucb`).
    pub fn name(&self) -> &'static str {
        match self {
            Guide::Ucb { .. } => "ucb",
            Guide::KlUcb => "kl-ucb",
            Guide::Thompson => "thompson",
            Guide::LinUcb { .. } => "linucb",
        }
    }
}

/// How much the instruction says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction {
    /// The scenario and the goal only.
    Base,
    /// Plus a paragraph on balancing exploration and exploitation.
    Detailed,
}

/// One past round as the agent remembers it.
#[derive(Clone, Debug, PartialEq)]
pub struct PastRound {
    /// The arm chosen, or None when the round was forfeited.
    pub arm: Option<usize>,
    pub reward: f64,
    /// The situation shown that round (contextual environments).
    pub situation: Option<String>,
}

/// What the agent knows: every past round and per-arm tallies, plus the guide's state.
#[derive(Clone, Debug)]
pub struct Memory {
    pub rounds: Vec<PastRound>,
    pub counts: Vec<u64>,
    pub sums: Vec<f64>,
    /// LinUCB's ridge models (algorithm-guided prompts with the LinUCB guide only).
    ridge: Option<RidgeArms>,
}

impl Memory {
    /// An empty memory for `arms` arms; `dim` > 0 keeps LinUCB models of that dimension.
    pub fn new(arms: usize, linucb_dim: usize) -> Self {
        Memory {
            rounds: Vec::new(),
            counts: vec![0; arms],
            sums: vec![0.0; arms],
            ridge: (linucb_dim > 0).then(|| RidgeArms::new(arms, linucb_dim, 1.0)),
        }
    }

    /// The memory of an agent with `layer` in a run on `world` (LinUCB models when the layer's
    /// guide is LinUCB and the environment has contexts).
    pub fn for_run(arms: usize, layer: &Layer, world: Option<&armada::env::ContextualInstance>) -> Self {
        let dim = match (layer, world) {
            (Layer::Guided(Guide::LinUcb { .. }), Some(w)) => w.shape().dim,
            _ => 0,
        };
        Memory::new(arms, dim)
    }

    /// Records a round; `features` is the round's context (for the LinUCB guide).
    pub fn record(&mut self, arm: Option<usize>, reward: f64, situation: Option<String>, features: Option<&[f64]>) {
        if let Some(a) = arm {
            self.counts[a] += 1;
            self.sums[a] += reward;
            if let (Some(ridge), Some(x)) = (&mut self.ridge, features) {
                ridge.update(a, x, reward);
            }
        }
        self.rounds.push(PastRound { arm, reward, situation });
    }
}

/// Renders prompts for one run: the scenario, the run's arm names, and the layer settings.
#[derive(Clone, Debug)]
pub struct Prompter {
    pub scenario: Scenario,
    pub names: Vec<String>,
    pub rewards: RewardKind,
    pub horizon: u64,
    pub layer: Layer,
    pub instruction: Instruction,
    /// Raw history: show only the last this-many rounds.
    pub history: Option<usize>,
    /// Ask for reasoning followed by a final "Answer: <name>" line.
    pub reasoning: bool,
    /// Demonstrations, already rendered (see [`Prompter::demo_block`]); empty for none.
    pub demos: String,
}

impl Prompter {
    /// The names as a bracketed list: `[a, b, c]`.
    pub fn name_list(&self) -> String {
        format!("[{}]", self.names.join(", "))
    }

    /// The system message: scenario, names, goal, (advice), demonstrations.
    pub fn instruction(&self) -> String {
        let s = &self.scenario;
        let k = self.names.len();
        let mut text = format!(
            "{} There are {k} {unit}s to choose from: {list}. {meaning} The game lasts {h} rounds, and your goal \
             is to collect as much reward as possible over all of them.",
            s.description,
            unit = s.unit,
            list = self.name_list(),
            meaning = s.reward_meaning,
            h = self.horizon,
        );
        if self.instruction == Instruction::Detailed {
            text.push_str(&format!(
                "\n\nYou do not know in advance which {unit} is best; you learn it only from the rewards you \
                 observe. Rewards are noisy, so one round says little. Make sure every {unit} is tried, and \
                 keep trying the ones you are unsure about while it could still pay off (exploration); \
                 as the evidence grows, choose the {unit} that has done best more and more often \
                 (exploitation).",
                unit = s.unit
            ));
        }
        if !self.demos.is_empty() {
            text.push_str("\n\n");
            text.push_str(&self.demos);
        }
        text
    }

    /// The chat messages for the decision at round `t` (counted from 0). `situation` describes
    /// the current context; `features` is the context vector (for the LinUCB guide).
    pub fn messages(&self, memory: &Memory, t: u64, situation: Option<&str>, features: Option<&[f64]>) -> Vec<Message> {
        vec![Message::system(self.instruction()), Message::user(self.observation(memory, t, situation, features))]
    }

    /// The user message: the past (per the layer), the situation, the question.
    pub fn observation(&self, memory: &Memory, t: u64, situation: Option<&str>, features: Option<&[f64]>) -> String {
        // The past comes first and the round count after it, so a prompt extends the previous
        // one as far as possible (a model server or the local model reuses the common prefix).
        let mut text = String::new();
        let n = memory.rounds.len();
        match &self.layer {
            Layer::Raw => self.raw_history(memory, &mut text),
            Layer::Summary => self.summary(memory, None, &mut text),
            Layer::Guided(guide) => self.summary(memory, Some((guide, features)), &mut text),
        }
        if n == 0 {
            text.push_str("\nThis is the first round; nothing has been played yet.\n");
        } else {
            let _ =
                write!(text, "\n{n} rounds have been played so far; this is round {} of {}.\n", t + 1, self.horizon);
        }
        if let Some(s) = situation {
            let _ = write!(text, "\nThe current situation:\n{s}\n");
        }
        let unit = &self.scenario.unit;
        if self.reasoning {
            let _ = write!(
                text,
                "\nWhich {unit} do you choose for this round? Think it through briefly, then end with a final \
                 line of the form \"Answer: <name>\", where <name> is exactly one of {}.",
                self.name_list()
            );
        } else {
            let _ = write!(
                text,
                "\nWhich {unit} do you choose for this round? Reply with exactly one name from {} and nothing else.",
                self.name_list()
            );
        }
        text.trim_start().to_string()
    }

    fn reward_text(&self, r: f64) -> String {
        match self.rewards {
            RewardKind::Bernoulli if r == 0.0 || r == 1.0 => format!("{r:.0}"),
            _ => format!("{r:.2}"),
        }
    }

    fn raw_history(&self, memory: &Memory, text: &mut String) {
        let n = memory.rounds.len();
        if n == 0 {
            return;
        }
        let shown = self.history.map_or(n, |h| h.min(n));
        if shown < n {
            let _ = writeln!(text, "\nThe last {shown} of the {n} rounds, oldest first:");
        } else {
            text.push_str("\nEvery round so far, oldest first:\n");
        }
        for (i, r) in memory.rounds.iter().enumerate().skip(n - shown) {
            let _ = write!(text, "round {}: ", i + 1);
            if let Some(s) = &r.situation {
                let _ = write!(text, "[{}] ", s.replace('\n', " "));
            }
            match r.arm {
                Some(a) => {
                    let _ = writeln!(
                        text,
                        "{} {} {}, reward {}",
                        self.scenario.verb,
                        self.scenario.unit,
                        self.names[a],
                        self.reward_text(r.reward)
                    );
                }
                None => {
                    let _ = writeln!(text, "no valid choice, reward {}", self.reward_text(r.reward));
                }
            }
        }
    }

    fn summary(&self, memory: &Memory, guide: Option<(&Guide, Option<&[f64]>)>, text: &mut String) {
        let unit = &self.scenario.unit;
        let total: u64 = memory.counts.iter().sum();
        let _ = writeln!(text, "\nWhat each {unit} has done so far:");
        let values = guide.map(|(g, x)| self.guide_values(g, memory, x, total));
        for (a, name) in self.names.iter().enumerate() {
            let n = memory.counts[a];
            let _ = write!(text, "{name}: ");
            if n == 0 {
                let _ = write!(text, "not {} yet", self.scenario.verb);
            } else {
                let times = if n == 1 { "once".to_string() } else { format!("{n} times") };
                let _ = write!(text, "{} {times}, average reward {:.2}", self.scenario.verb, memory.sums[a] / n as f64);
            }
            if let (Some(values), Some((g, _))) = (&values, guide) {
                let (value, bonus) = values[a];
                let fmt = |x: f64| if x.is_finite() { format!("{x:.2}") } else { "unknown".to_string() };
                let _ = write!(
                    text,
                    "; {} says: exploitation value {}, exploration bonus {}",
                    guide_label(g),
                    fmt(value),
                    if bonus.is_infinite() { "infinite".to_string() } else { fmt(bonus) }
                );
            }
            text.push('\n');
        }
    }

    /// (exploitation value, exploration bonus) per arm under `guide`.
    fn guide_values(&self, guide: &Guide, memory: &Memory, x: Option<&[f64]>, total: u64) -> Vec<(f64, f64)> {
        let k = self.names.len();
        let ln_total = (total.max(1) as f64).ln();
        let sigma = match self.rewards {
            RewardKind::Gaussian { sigma } => sigma,
            _ => 0.5,
        };
        (0..k)
            .map(|a| {
                let n = memory.counts[a];
                let mean = if n > 0 { memory.sums[a] / n as f64 } else { 0.0 };
                match guide {
                    Guide::LinUcb { alpha } => match (&memory.ridge, x) {
                        (Some(r), Some(x)) => {
                            let mut ax = vec![0.0; x.len()];
                            r.solve(a, x, &mut ax);
                            let width2: f64 = x.iter().zip(&ax).map(|(u, v)| u * v).sum();
                            (r.predict(a, x), alpha * width2.max(0.0).sqrt())
                        }
                        _ => (f64::NAN, f64::NAN),
                    },
                    _ if n == 0 => (0.0, f64::INFINITY),
                    Guide::Ucb { alpha } => (mean, (alpha * ln_total / n as f64).sqrt()),
                    Guide::KlUcb => {
                        let d = ln_total / n as f64;
                        let index = if self.rewards == RewardKind::Bernoulli {
                            kl_index(mean, d)
                        } else {
                            mean + (2.0 * sigma * sigma * d).sqrt()
                        };
                        (mean, index - mean)
                    }
                    Guide::Thompson => {
                        if self.rewards == RewardKind::Bernoulli {
                            let (al, be) = (1.0 + memory.sums[a], 1.0 + n as f64 - memory.sums[a]);
                            let m = al / (al + be);
                            (m, (al * be / ((al + be).powi(2) * (al + be + 1.0))).sqrt())
                        } else {
                            (mean, sigma / (n as f64).sqrt())
                        }
                    }
                }
            })
            .collect()
    }

    /// Demonstrations rendered for the instruction: an introduction, then each example's
    /// observation and the answer given, separated by rules.
    pub fn demo_block(examples: &[(String, String)]) -> String {
        if examples.is_empty() {
            return String::new();
        }
        let mut text = String::from(
            "Below are examples of good decisions in games like this one, made by a strong algorithm. Use them \
             as hints.\n",
        );
        for (i, (observation, answer)) in examples.iter().enumerate() {
            let _ = write!(text, "\n--- Example {} ---\n{observation}\nGood answer: {answer}\n", i + 1);
        }
        text.push_str("--- End of examples ---");
        text
    }
}

fn guide_label(g: &Guide) -> &'static str {
    match g {
        Guide::Ucb { .. } => "UCB",
        Guide::KlUcb => "KL-UCB",
        Guide::Thompson => "Thompson sampling",
        Guide::LinUcb { .. } => "LinUCB",
    }
}

/// max{q ∈ [p, 1] : KL(p, q) ≤ d} by bisection (prompts need two decimals, so 40 halvings).
fn kl_index(p: f64, d: f64) -> f64 {
    let (mut lo, mut hi) = (p.clamp(0.0, 1.0), 1.0);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if kl_bernoulli(p, mid) <= d { lo = mid } else { hi = mid }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompter(layer: Layer) -> Prompter {
        Prompter {
            scenario: Scenario::built_in("buttons").unwrap(),
            names: vec!["crimson".into(), "teal".into(), "amber".into()],
            rewards: RewardKind::Bernoulli,
            horizon: 10,
            layer,
            instruction: Instruction::Detailed,
            history: None,
            reasoning: false,
            demos: String::new(),
        }
    }

    fn memory() -> Memory {
        let mut m = Memory::new(3, 0);
        for (arm, r) in [(0, 1.0), (1, 0.0), (0, 0.0), (0, 1.0)] {
            m.record(Some(arm), r, None, None);
        }
        m
    }

    #[test]
    fn raw_history_lists_rounds_and_truncates() {
        let mut p = prompter(Layer::Raw);
        let text = p.observation(&memory(), 4, None, None);
        assert!(text.contains("4 rounds have been played so far; this is round 5 of 10."));
        assert!(text.contains("round 1: pressed button crimson, reward 1\n"));
        assert!(text.contains("round 4: pressed button crimson, reward 1\n"));
        assert!(text.ends_with("Reply with exactly one name from [crimson, teal, amber] and nothing else."));
        p.history = Some(2);
        let text = p.observation(&memory(), 4, None, None);
        assert!(text.contains("The last 2 of the 4 rounds"));
        assert!(!text.contains("round 2:") && text.contains("round 3:"));
    }

    #[test]
    fn summary_counts_and_averages() {
        let text = prompter(Layer::Summary).observation(&memory(), 4, None, None);
        assert!(text.contains("crimson: pressed 3 times, average reward 0.67\n"));
        assert!(text.contains("teal: pressed once, average reward 0.00\n"));
        assert!(text.contains("amber: not pressed yet\n"));
    }

    #[test]
    fn guides_show_their_values() {
        let m = memory();
        let ucb = prompter(Layer::Guided(Guide::Ucb { alpha: 0.5 })).observation(&m, 4, None, None);
        // Crimson: mean 2/3, bonus √(0.5 ln 4 / 3) = 0.48.
        assert!(ucb.contains("crimson: pressed 3 times, average reward 0.67; UCB says: exploitation value 0.67, exploration bonus 0.48"), "{ucb}");
        assert!(ucb.contains("amber: not pressed yet; UCB says: exploitation value 0.00, exploration bonus infinite"));
        let ts = prompter(Layer::Guided(Guide::Thompson)).observation(&m, 4, None, None);
        // Beta(3, 2): mean 0.6, sd √(6 / (25 · 6)) = 0.2.
        assert!(ts.contains("crimson: pressed 3 times, average reward 0.67; Thompson sampling says: exploitation value 0.60, exploration bonus 0.20"), "{ts}");
        let kl = prompter(Layer::Guided(Guide::KlUcb)).observation(&m, 4, None, None);
        let index = kl_index(2.0 / 3.0, 4f64.ln() / 3.0);
        // The index solves KL(p, q) = d: just inside at q, outside a hair above it.
        assert!(kl_bernoulli(2.0 / 3.0, index) <= 4f64.ln() / 3.0 + 1e-12);
        assert!(kl_bernoulli(2.0 / 3.0, index + 1e-6) > 4f64.ln() / 3.0);
        let line = format!("KL-UCB says: exploitation value 0.67, exploration bonus {:.2}", index - 2.0 / 3.0);
        assert!(kl.contains(&line), "{kl}");
    }

    #[test]
    fn linucb_guide_follows_the_context() {
        let mut p = prompter(Layer::Guided(Guide::LinUcb { alpha: 1.0 }));
        p.rewards = RewardKind::Real;
        let mut m = Memory::new(3, 2);
        for _ in 0..50 {
            m.record(Some(0), 2.0, Some("x".into()), Some(&[1.0, 0.0]));
        }
        let text = p.observation(&m, 50, Some("user 7"), Some(&[1.0, 0.0]));
        // θ̂ = 100/51 ≈ 1.96 for arm 0; an unplayed arm predicts 0 with width 1.
        assert!(text.contains("crimson: recommended") || text.contains("crimson: pressed 50 times"), "{text}");
        assert!(text.contains("exploitation value 1.96"), "{text}");
        assert!(
            text.contains("teal: not pressed yet; LinUCB says: exploitation value 0.00, exploration bonus 1.00"),
            "{text}"
        );
        assert!(text.contains("The current situation:\nuser 7\n"));
    }

    #[test]
    fn instruction_and_reasoning() {
        let mut p = prompter(Layer::Raw);
        let i = p.instruction();
        assert!(i.contains("There are 3 buttons to choose from: [crimson, teal, amber]."));
        assert!(i.contains("The game lasts 10 rounds"));
        assert!(i.contains("exploration") && i.contains("exploitation"));
        p.instruction = Instruction::Base;
        assert!(!p.instruction().contains("exploration"));
        p.reasoning = true;
        assert!(p.observation(&Memory::new(3, 0), 0, None, None).contains("\"Answer: <name>\""));
        p.demos = Prompter::demo_block(&[("obs".into(), "teal".into())]);
        assert!(p.instruction().ends_with("--- Example 1 ---\nobs\nGood answer: teal\n--- End of examples ---"));
    }
}
