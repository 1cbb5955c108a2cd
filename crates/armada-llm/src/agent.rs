//! The LLM agent: an [`armada::policy::Agent`] that asks a chat model which arm to pull.
//!
//! Each step the agent renders its prompt with the run's [`Prompter`] (scenario, names, context
//! layer), asks the model through the shared [`Client`] (retries, cache, ledger), and reads the
//! answer with [`parse_answer`]. An answer that names no arm is counted; the agent then re-asks
//! up to `reasks` times (showing the model its answer and the valid names), and finally falls
//! back to a uniformly random arm drawn from its own fallback stream, or forfeits the step. The
//! fallback never touches the reward stream, so an invalid answer shifts no later reward.
//!
//! In likelihood mode the agent does not generate text at all: it asks the provider for the
//! log-probability of each name as the whole answer and takes the most likely one (or samples
//! from the renormalised distribution at temperature > 0), so no answer can be invalid.

use crate::chat::{ChatRequest, Message};
use crate::client::Client;
use crate::parse::{Parsed, parse_answer};
use crate::prompt::{Memory, Prompter};
use armada::env::ContextualInstance;
use armada::env::contextual::Context;
use armada::policy::{Agent, AgentStats, Decision};
use armada::rng::{self, Stream};
use rand::RngExt;
use std::sync::Arc;

/// How the agent turns the model into a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decide {
    /// Generate an answer and parse it.
    Generate,
    /// Score every name's likelihood as the answer (providers that can score).
    Likelihood,
}

/// What the agent does when the answers stay invalid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fallback {
    /// A uniformly random arm from the agent's fallback stream.
    Random,
    /// No arm; the step pays `reward`.
    Forfeit { reward: f64 },
}

/// The settings of an agent that decide its behaviour.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub temperature: f64,
    pub max_tokens: u32,
    pub decide: Decide,
    /// Ask the provider to constrain its output to the names (structured output, grammar, or
    /// constrained decoding, as the provider supports).
    pub constrain: bool,
    pub reasks: u32,
    pub fallback: Fallback,
}

/// One LLM agent in one run.
pub struct LlmAgent {
    pub(crate) client: Arc<Client>,
    pub(crate) prompter: Prompter,
    pub(crate) behaviour: Behaviour,
    pub(crate) memory: Memory,
    /// Per-call seeds and likelihood sampling.
    pub(crate) policy_rng: Stream,
    /// Random fallbacks only.
    pub(crate) fallback_rng: Stream,
    pub(crate) world: Option<Arc<ContextualWorldText>>,
    pub(crate) stats: AgentStats,
    /// The current round, kept for [`Agent::observe`].
    pending: Option<Round>,
}

/// What a round shows an agent: the situation in words and the context's features (contextual
/// environments only).
#[derive(Clone, Debug, Default)]
pub(crate) struct Round {
    pub situation: Option<String>,
    pub features: Option<Vec<f64>>,
}

impl Round {
    pub(crate) fn new(world: Option<&ContextualWorldText>, context: Option<&Context>) -> Round {
        Round {
            situation: context.zip(world).map(|(c, w)| (w.describe)(c)),
            features: context.map(|c| c.shared.clone()),
        }
    }
}

/// How contexts are described in words (built once per run).
pub struct ContextualWorldText {
    pub(crate) describe: Box<dyn Fn(&Context) -> String + Send + Sync>,
}

impl LlmAgent {
    pub(crate) fn new(
        client: Arc<Client>,
        prompter: Prompter,
        behaviour: Behaviour,
        memory: Memory,
        policy_rng: Stream,
        fallback_rng: Stream,
        world: Option<Arc<ContextualWorldText>>,
    ) -> Self {
        LlmAgent {
            client,
            prompter,
            behaviour,
            memory,
            policy_rng,
            fallback_rng,
            world,
            stats: AgentStats::default(),
            pending: None,
        }
    }

    fn account_prompt(&mut self, messages: &[Message]) {
        let chars: u64 = messages.iter().map(|m| m.content.chars().count() as u64).sum();
        self.stats.prompt_chars += chars;
        self.stats.max_prompt_chars = self.stats.max_prompt_chars.max(chars);
    }

    fn generate(&mut self, t: u64, mut messages: Vec<Message>) -> Result<Decision, String> {
        let names = self.prompter.names.clone();
        let mut first = true;
        for attempt in 0..=self.behaviour.reasks {
            let request = ChatRequest {
                messages: messages.clone(),
                temperature: self.behaviour.temperature,
                max_tokens: self.behaviour.max_tokens,
                seed: Some(self.policy_rng.random::<u32>() as u64),
                choices: self.behaviour.constrain.then(|| names.clone()),
            };
            self.account_prompt(&request.messages);
            let reply = self.client.chat(&request).map_err(|e| format!("the model call failed: {e}"))?;
            self.stats.calls += 1;
            self.stats.cache_hits += u64::from(reply.cached);
            self.stats.retries += u64::from(reply.attempts.saturating_sub(1));
            self.stats.prompt_tokens += reply.response.prompt_tokens;
            self.stats.completion_tokens += reply.response.completion_tokens;
            self.stats.cost += reply.cost;
            self.stats.latency_s += reply.latency.as_secs_f64();
            if attempt > 0 {
                self.stats.reasks += 1;
            }
            match parse_answer(&reply.response.content, &names) {
                Parsed::Arm(a) => return Ok(Decision::Arm(a)),
                Parsed::Invalid(why) => {
                    self.stats.invalid_answers += 1;
                    if first {
                        self.stats.invalid_decisions += 1;
                        first = false;
                    }
                    messages.push(Message::assistant(reply.response.content.clone()));
                    messages.push(Message::user(format!(
                        "That answer could not be used ({why}). Reply with exactly one name from {} and nothing \
                         else.",
                        self.prompter.name_list()
                    )));
                }
            }
        }
        let _ = t;
        Ok(match self.behaviour.fallback {
            Fallback::Random => {
                self.stats.fallbacks += 1;
                Decision::Arm(rng::index(&mut self.fallback_rng, names.len()))
            }
            Fallback::Forfeit { .. } => {
                self.stats.forfeits += 1;
                Decision::Forfeit
            }
        })
    }

    fn likelihood(&mut self, messages: Vec<Message>) -> Result<Decision, String> {
        self.account_prompt(&messages);
        let names = self.prompter.names.clone();
        let reply = match self.client.score(&messages, &names) {
            Some(r) => r.map_err(|e| format!("the model call failed: {e}"))?,
            None => return Err("the provider cannot score answers; use decide = \"generate\"".into()),
        };
        self.stats.calls += 1;
        self.stats.cache_hits += u64::from(reply.cached);
        self.stats.retries += u64::from(reply.attempts.saturating_sub(1));
        self.stats.latency_s += reply.latency.as_secs_f64();
        let logp = &reply.scores;
        let t = self.behaviour.temperature;
        let arm = if t <= 0.0 {
            (0..logp.len()).fold(0, |best, a| if logp[a] > logp[best] { a } else { best })
        } else {
            let top = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = logp.iter().map(|l| ((l - top) / t).exp()).collect();
            let total: f64 = weights.iter().sum();
            let mut u = rng::uniform(&mut self.policy_rng) * total;
            let mut pick = weights.len() - 1;
            for (a, w) in weights.iter().enumerate() {
                if u < *w {
                    pick = a;
                    break;
                }
                u -= w;
            }
            pick
        };
        Ok(Decision::Arm(arm))
    }
}

impl Agent for LlmAgent {
    fn act(&mut self, t: u64, context: Option<&Context>) -> Result<Decision, String> {
        self.stats.decisions += 1;
        let round = Round::new(self.world.as_deref(), context);
        let messages = self.prompter.messages(&self.memory, t, round.situation.as_deref(), round.features.as_deref());
        self.pending = Some(round);
        match self.behaviour.decide {
            Decide::Generate => self.generate(t, messages),
            Decide::Likelihood => self.likelihood(messages),
        }
    }

    fn observe(&mut self, arm: Option<usize>, reward: f64) {
        let round = self.pending.take().unwrap_or_default();
        self.memory.record(arm, reward, round.situation, round.features.as_deref());
    }

    fn forfeit_reward(&self) -> f64 {
        match self.behaviour.fallback {
            Fallback::Forfeit { reward } => reward,
            Fallback::Random => 0.0,
        }
    }

    fn stats(&self) -> AgentStats {
        self.stats.clone()
    }
}

/// Describes contexts in words: MovieLens users by their demographics and feature vector, other
/// contextual environments by their feature vectors.
pub fn describe_contexts(world: &ContextualInstance, names: &[String]) -> ContextualWorldText {
    let features = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ");
    match world {
        ContextualInstance::MovieLens { world, .. } => {
            let data = world.data.clone();
            ContextualWorldText {
                describe: Box::new(move |ctx: &Context| {
                    let mut text = String::new();
                    if let Some(u) = ctx.user.and_then(|u| data.users.get(u)) {
                        let age = u.age.map(|a| format!("{a}-year-old ")).unwrap_or_default();
                        let gender = match u.gender.as_deref() {
                            Some("M") => "man",
                            Some("F") => "woman",
                            _ => "person",
                        };
                        let job = u.occupation.as_deref().map(|o| format!(" who works as: {o}")).unwrap_or_default();
                        let zip = u.zip.as_deref().map(|z| format!(", living in zip code {z}")).unwrap_or_default();
                        text.push_str(&format!("The user is a {age}{gender}{job}{zip}.\n"));
                    }
                    text.push_str(&format!("The user's preference features are [{}].", features(&ctx.shared)));
                    text
                }),
            }
        }
        ContextualInstance::Linear(_) => {
            let names = names.to_vec();
            ContextualWorldText {
                describe: Box::new(move |ctx: &Context| {
                    let mut text = format!("The features of this round are [{}].", features(&ctx.shared));
                    if ctx.arm_dim > 0 {
                        for (a, n) in names.iter().enumerate() {
                            text.push_str(&format!("\nFeatures of {n}: [{}].", features(ctx.arm(a))));
                        }
                    }
                    text
                }),
            }
        }
    }
}
