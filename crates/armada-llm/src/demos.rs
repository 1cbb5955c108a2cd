//! Algorithm distillation: a classic policy (the teacher) plays while the prompts an LLM agent
//! would have been shown are recorded with the teacher's choice as the answer.
//!
//! The same records serve two purposes:
//! * **few-shot demonstrations** ([`demonstrations`]): a few decision points of a teacher run on
//!   another instance of the environment, rendered into the agent's instruction;
//! * **fine-tuning data** ([`export`]): every decision (or every n-th) as a chat-format JSONL
//!   example, plus DPO-style preference pairs (the teacher's answer preferred over another
//!   arm's name).
//!
//! The teacher runs through the core harness as an agent ([`TeacherAgent`]), so it sees the
//! same environments, contexts and reward streams as every other policy, and its prompts come
//! from the one [`Prompter`]: a fine-tuning prompt is byte-identical to what the LLM agent sends
//! in the same situation.

use crate::agent::{ContextualWorldText, Round, describe_contexts};
use crate::chat::Message;
use crate::prompt::{Layer, Memory, Prompter};
use armada::env::contextual::Context;
use armada::env::{EnvKind, EnvPreset, EnvSpec};
use armada::harness::{Experiment, run_one};
use armada::policy::{
    Agent, AgentFactory, AgentRun, AgentStats, AnyContextualPolicy, AnyPolicy, BanditInfo, ContextInfo,
    ContextualPolicy, Decision, Policy, PolicySpec, find_policy,
};
use armada::rng::{self, Role, Stream};
use std::sync::{Arc, Mutex};

/// Few-shot settings of an LLM agent.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoSettings {
    /// The teacher: a built-in policy's name (run with its default parameters).
    pub teacher: &'static str,
    /// How many decision points to show.
    pub count: usize,
    /// The layer the examples are rendered in; None for the agent's own.
    pub layer: Option<Layer>,
    /// Which decisions are shown.
    pub steps: DemoSteps,
    /// Play the demonstrations on this preset (with the agent's number of arms) instead of
    /// another instance of the agent's own environment: e.g. easy demonstrations for a hard task.
    pub env: Option<EnvPreset>,
}

/// Which of the teacher's decisions become demonstrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoSteps {
    /// Decision points: steps 2, 4, 6, … (BanditBench's sampling: histories of length 2, 4, …).
    Points,
    /// A whole short trajectory: steps 0, 1, 2, …
    Trajectory,
}

impl DemoSteps {
    /// The name in specs.
    pub fn name(self) -> &'static str {
        match self {
            DemoSteps::Points => "points",
            DemoSteps::Trajectory => "trajectory",
        }
    }

    fn keep(self) -> Keep {
        match self {
            DemoSteps::Points => Keep { first: 2, every: 2 },
            DemoSteps::Trajectory => Keep { first: 0, every: 1 },
        }
    }
}

/// One recorded decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decided {
    /// The step (counted from 0).
    pub t: u64,
    /// The prompt an LLM agent would have been sent.
    pub messages: Vec<Message>,
    /// The teacher's arm.
    pub arm: usize,
    /// Every arm's name, in arm order.
    pub names: Vec<String>,
    /// How the agent is asked to write its answer.
    pub format: AnswerFormat,
}

impl Decided {
    /// The answer naming `arm`, written as the agent is asked to answer.
    pub fn answer(&self, arm: usize) -> String {
        self.format.write(&self.names[arm])
    }
}

/// How an answer is written, so fine-tuning targets match what the prompt asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerFormat {
    /// The bare name.
    Name,
    /// A final line `Answer: <name>` (prompts that ask for reasoning first).
    AnswerLine,
    /// `{"choice": "<name>"}` (structured JSON output).
    Json,
}

impl AnswerFormat {
    /// `name` written in this format.
    pub fn write(self, name: &str) -> String {
        match self {
            AnswerFormat::Name => name.to_string(),
            AnswerFormat::AnswerLine => format!("Answer: {name}"),
            AnswerFormat::Json => serde_json::json!({ "choice": name }).to_string(),
        }
    }
}

/// A built-in policy playing as an agent, recording prompts.
pub struct TeacherAgent {
    teacher: Teacher,
    prompter: Prompter,
    memory: Memory,
    world: Option<ContextualWorldText>,
    rng: Stream,
    record: Arc<Mutex<Vec<Decided>>>,
    keep: Keep,
    format: AnswerFormat,
    pending: Option<Pending>,
    stats: AgentStats,
}

/// The round being decided, kept for [`Agent::observe`].
struct Pending {
    round: Round,
    context: Option<Context>,
}

enum Teacher {
    Classic(AnyPolicy),
    Contextual(Box<AnyContextualPolicy>),
}

impl Agent for TeacherAgent {
    fn act(&mut self, t: u64, context: Option<&Context>) -> Result<Decision, String> {
        let round = Round::new(self.world.as_ref(), context);
        let arm = match (&mut self.teacher, context) {
            (Teacher::Classic(p), _) => p.select(&mut self.rng),
            (Teacher::Contextual(p), Some(c)) => p.select(c, &mut self.rng),
            (Teacher::Contextual(_), None) => return Err("a contextual teacher needs contexts".into()),
        };
        if self.keep.keeps(t) {
            let messages =
                self.prompter.messages(&self.memory, t, round.situation.as_deref(), round.features.as_deref());
            let names = self.prompter.names.clone();
            let format = self.format;
            self.record.lock().unwrap_or_else(|e| e.into_inner()).push(Decided { t, messages, arm, names, format });
        }
        self.pending = Some(Pending { round, context: context.cloned() });
        self.stats.decisions += 1;
        Ok(Decision::Arm(arm))
    }

    fn observe(&mut self, arm: Option<usize>, reward: f64) {
        let Pending { round, context } =
            self.pending.take().unwrap_or(Pending { round: Round::default(), context: None });
        if let Some(a) = arm {
            match (&mut self.teacher, &context) {
                (Teacher::Classic(p), _) => p.update(a, reward, &mut self.rng),
                (Teacher::Contextual(p), Some(c)) => p.update(c, a, reward, &mut self.rng),
                (Teacher::Contextual(_), None) => {}
            }
        }
        self.memory.record(arm, reward, round.situation, round.features.as_deref());
    }

    fn stats(&self) -> AgentStats {
        self.stats.clone()
    }
}

/// Builds teacher agents that render prompts like `template` (its layer, instruction and
/// demonstrations; the names come from `names`, or the run's scenario when None).
#[derive(Debug)]
pub struct TeacherFactory {
    pub teacher: PolicySpec,
    pub template: PrompterTemplate,
    pub record: Arc<Mutex<Vec<Decided>>>,
    pub keep: Keep,
    pub format: AnswerFormat,
}

/// Which steps a teacher run records: `first`, `first + every`, `first + 2·every`, …
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    pub first: u64,
    pub every: u64,
}

impl Keep {
    fn keeps(self, t: u64) -> bool {
        t >= self.first && (t - self.first).is_multiple_of(self.every.max(1))
    }
}

/// How a teacher's prompts are rendered: either exactly an agent's prompter (demonstrations,
/// whose names are the agent run's), or an LLM agent's factory deciding per run (exports).
pub enum PrompterTemplate {
    Fixed(Box<Prompter>),
    PerRun(Arc<crate::config::LlmFactory>),
}

impl std::fmt::Debug for PrompterTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrompterTemplate::Fixed(_) => f.write_str("Fixed"),
            PrompterTemplate::PerRun(_) => f.write_str("PerRun"),
        }
    }
}

impl AgentFactory for TeacherFactory {
    fn identity(&self) -> String {
        format!("teacher:{}", self.teacher.identity())
    }
    fn to_toml(&self) -> toml::Table {
        toml::Table::new()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn build(&self, run: &AgentRun<'_>) -> Result<Box<dyn Agent>, String> {
        let prompter = match &self.template {
            PrompterTemplate::Fixed(p) => (**p).clone(),
            PrompterTemplate::PerRun(f) => f.prompter(run)?,
        };
        let bandit = BanditInfo { arms: run.arms, horizon: run.horizon, reward_model: &run.reward_model };
        let teacher = match run.world {
            Some(w) => Teacher::Contextual(Box::new(
                self.teacher.build_contextual(&ContextInfo { shape: w.shape(), horizon: run.horizon }, &bandit),
            )),
            None if self.teacher.def.contextual => {
                return Err(format!("teacher {} needs a contextual environment", self.teacher.def.name));
            }
            None => Teacher::Classic(self.teacher.build(&bandit)),
        };
        Ok(Box::new(TeacherAgent {
            teacher,
            memory: Memory::for_run(prompter.names.len(), &prompter.layer, run.world),
            world: run.world.map(|w| describe_contexts(w, &prompter.names)),
            prompter,
            rng: run.stream(Role::Policy),
            record: self.record.clone(),
            keep: self.keep,
            format: self.format,
            pending: None,
            stats: AgentStats::default(),
        }))
    }
}

/// The demonstration block for an agent's run: the teacher plays another instance of the same
/// environment (or of `settings.env`), with a stream of its own shared by every agent with these
/// settings on this seed index, and `settings.count` of its decisions are rendered with the
/// agent's prompter.
pub fn demonstrations(settings: &DemoSettings, agent: &Prompter, run: &AgentRun<'_>) -> Result<String, String> {
    let def = find_policy(settings.teacher).ok_or_else(|| format!("unknown teacher policy {}", settings.teacher))?;
    let mut prompter = agent.clone();
    prompter.demos = String::new();
    let seed = rng::stream_seed(run.master_seed, Role::Scenario, &[run.env_id, "demonstrations"], run.seed_index);
    if !prompter.scenario.names_from_data() {
        // The teacher's arms get the names in another order, so the examples say nothing about
        // which name is the best arm of the agent's own instance (which the demonstration run
        // replays when the environment has a fixed instance).
        let mut stream = rng::stream(seed, Role::Scenario, &["demonstration names"], 0);
        prompter.names = crate::scenario::sample_names(&agent.names, agent.names.len(), &mut stream);
    }
    if let Some(layer) = &settings.layer {
        prompter.layer = layer.clone();
    }
    let record = Arc::new(Mutex::new(Vec::new()));
    let factory = TeacherFactory {
        teacher: PolicySpec::with_defaults(def),
        template: PrompterTemplate::Fixed(Box::new(prompter)),
        record: record.clone(),
        keep: settings.steps.keep(),
        format: AnswerFormat::Name,
    };
    let keep = settings.steps.keep();
    let steps = keep.first + keep.every * (settings.count as u64 - 1) + 1;
    let mut env = match settings.env {
        Some(preset) => EnvSpec {
            label: "demonstrations".into(),
            shuffle: true,
            scenario: run.env.scenario.clone(),
            ..EnvSpec::new(EnvKind::Preset { preset, arms: run.arms })
        },
        None => run.env.clone(),
    };
    env.horizon = Some(steps);
    let one = Experiment {
        name: "demonstrations".into(),
        horizon: steps,
        seeds: 1,
        seed,
        checkpoints: 1,
        envs: vec![env],
        policies: vec![PolicySpec::agent(def.name.to_string(), Arc::new(factory))],
    };
    let id = one.run_at(0);
    let env_id = one.envs[0].identity();
    let rec = run_one(&one, id, &env_id, &one.policies[0].identity(), &[steps]);
    if let Some(why) = rec.failure {
        return Err(format!("generating demonstrations: {why}"));
    }
    let decided = record.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let examples: Vec<(String, String)> = decided
        .iter()
        .take(settings.count)
        .map(|d| (d.messages.last().map(|m| m.content.clone()).unwrap_or_default(), d.names[d.arm].clone()))
        .collect();
    Ok(Prompter::demo_block(&examples))
}

/// Fine-tuning data from a spec: for every LLM agent in `exp`, on every environment and seed,
/// the teacher plays the agent's run (same names, contexts and rewards) and every `every`-th
/// decision is kept with the prompt the agent would have been sent.
pub fn export(exp: &Experiment, teacher: &PolicySpec, every: u64) -> Result<Vec<Decided>, String> {
    let mut out = Vec::new();
    let agents: Vec<(usize, &crate::config::LlmFactory)> = exp
        .policies
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p.agent.as_ref()?.as_any().downcast_ref::<crate::config::LlmFactory>()?)))
        .collect();
    if agents.is_empty() {
        return Err("the spec has no `[[policy]] name = \"llm\"`: its settings say how prompts look".into());
    }
    for (e, env) in exp.envs.iter().enumerate() {
        let env_id = env.identity();
        for &(p, factory) in &agents {
            let record = Arc::new(Mutex::new(Vec::new()));
            let teacher_factory = TeacherFactory {
                teacher: teacher.clone(),
                template: PrompterTemplate::PerRun(Arc::new(crate::config::LlmFactory::new(factory.settings.clone()))),
                record: record.clone(),
                keep: Keep { first: 0, every },
                format: factory.answer_format(),
            };
            // The agent's own identity names the teacher's run, so the arm names, the
            // demonstrations and every stream are those of the agent's run.
            let policy_id = exp.policies[p].identity();
            let mut one = exp.clone();
            one.policies[p] = PolicySpec::agent(exp.policies[p].label.clone(), Arc::new(teacher_factory));
            let checkpoints = one.checkpoints_of(e);
            for seed_index in 0..exp.seeds {
                let id = armada::harness::RunId { env: e, policy: p, seed_index };
                let rec = run_one(&one, id, &env_id, &policy_id, &checkpoints);
                if let Some(why) = rec.failure {
                    return Err(format!("{} / {} / seed index {seed_index}: {why}", env.label, exp.policies[p].label));
                }
                out.append(&mut record.lock().unwrap_or_else(|e| e.into_inner()));
            }
        }
    }
    Ok(out)
}

/// One chat-format fine-tuning example per decision: the prompt and the teacher's answer.
pub fn sft_jsonl(decided: &[Decided]) -> String {
    let mut out = String::new();
    for d in decided {
        let mut messages = d.messages.clone();
        messages.push(Message::assistant(d.answer(d.arm)));
        out.push_str(&serde_json::json!({ "messages": messages }).to_string());
        out.push('\n');
    }
    out
}

/// One preference pair per decision (OpenAI's DPO format): the teacher's answer preferred over
/// another arm's name, drawn uniformly from the others with a stream of its own.
pub fn preference_jsonl(decided: &[Decided], seed: u64) -> String {
    let mut stream = rng::stream(seed, Role::Scenario, &["preference pairs"], 0);
    let mut out = String::new();
    for d in decided.iter().filter(|d| d.names.len() > 1) {
        let mut other = rng::index(&mut stream, d.names.len() - 1);
        if other >= d.arm {
            other += 1;
        }
        let line = serde_json::json!({
            "input": { "messages": d.messages },
            "preferred_output": [Message::assistant(d.answer(d.arm))],
            "non_preferred_output": [Message::assistant(d.answer(other))],
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
