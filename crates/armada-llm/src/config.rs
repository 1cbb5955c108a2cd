//! `[[policy]] name = "llm"`: the spec keys of an LLM agent, their validation, and the factory
//! that builds one agent per run.
//!
//! Keys fall in two groups. Those that change decisions (provider, model, scenario, layer,
//! sampling, fallback, demonstrations…) form the agent's identity, which seeds its streams and
//! keys the response cache through the requests. Those that only change how calls are made
//! (cache directory and mode, concurrency, retries, timeout, prices) do not.
//!
//! Providers and clients are shared across every run and every `[[policy]]` table with the same
//! settings (one loaded local model, one concurrency limit per server).

use crate::agent::{Behaviour, Decide, Fallback, LlmAgent, describe_contexts};
use crate::cache::CacheMode;
use crate::chat::Provider;
use crate::client::{Client, ClientOptions, Prices};
use crate::demos::{DemoSettings, DemoSteps, demonstrations};
use crate::openai::{OpenAiConfig, OpenAiProvider, Structured};
use crate::prompt::{Guide, Instruction, Layer, Memory, Prompter};
use crate::scenario::Scenario;
use armada::env::movielens::Evaluation;
use armada::env::{EnvKind, EnvPreset, EnvSpec};
use armada::policy::{Agent, AgentFactory, AgentParser, AgentRun, find_policy};
use armada::rng::Role;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toml::{Table, Value};

/// Where the model is.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderSettings {
    /// The in-process model from a GGUF file.
    Local { model: PathBuf },
    /// An OpenAI-compatible server.
    OpenAi { base_url: String, model: String, api_key_env: Option<String>, structured: Structured, timeout_s: f64 },
}

/// Everything one `[[policy]] name = "llm"` table says.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    pub provider: ProviderSettings,
    /// A built-in scenario name or a scenario file; `auto` takes the environment's own
    /// `scenario`, else `movies` on MovieLens and `buttons` elsewhere.
    pub scenario: String,
    pub layer: Layer,
    pub instruction: Instruction,
    pub history: Option<usize>,
    pub reasoning: bool,
    pub behaviour: Behaviour,
    pub demos: Option<DemoSettings>,
    // Call settings: not part of the identity.
    pub cache: Option<PathBuf>,
    pub cache_mode: CacheMode,
    pub concurrency: usize,
    pub retries: u32,
    pub prices: Prices,
}

/// The parser that claims `llm`.
pub struct LlmAgents;

impl AgentParser for LlmAgents {
    fn names(&self) -> Vec<(&'static str, &'static str)> {
        vec![("llm", "an LLM agent: a local model or any OpenAI-compatible server, with scenarios and context layers")]
    }

    fn parse(&self, _name: &str, table: &Table) -> Result<Arc<dyn AgentFactory>, (String, String)> {
        let settings = parse_settings(table)?;
        Ok(Arc::new(LlmFactory::new(settings)))
    }
}

type KeyError = (String, String);

fn err(key: &str, message: impl Into<String>) -> KeyError {
    (key.to_string(), message.into())
}

const KEYS: &[&str] = &[
    "name",
    "provider",
    "model",
    "base_url",
    "api_key_env",
    "structured",
    "timeout",
    "scenario",
    "layer",
    "guide",
    "guide_alpha",
    "instruction",
    "history",
    "reasoning",
    "temperature",
    "max_tokens",
    "decide",
    "constrain",
    "reasks",
    "fallback",
    "forfeit_reward",
    "demos",
    "demo_count",
    "demo_layer",
    "demo_steps",
    "demo_env",
    "cache",
    "cache_mode",
    "concurrency",
    "retries",
    "price_input",
    "price_output",
];

struct Keys<'a>(&'a Table);

impl Keys<'_> {
    fn string(&self, key: &str) -> Result<Option<String>, KeyError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(err(key, format!("must be a string, got {}", v.type_str()))),
        }
    }
    fn choice(&self, key: &str, valid: &[&str], default: &str) -> Result<String, KeyError> {
        let v = self.string(key)?.unwrap_or_else(|| default.to_string());
        if valid.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(err(key, format!("is \"{v}\"; valid values: {}", valid.join(", "))))
        }
    }
    fn float(&self, key: &str, default: f64, min: f64) -> Result<f64, KeyError> {
        let x = match self.0.get(key) {
            None => return Ok(default),
            Some(Value::Float(x)) => *x,
            Some(Value::Integer(i)) => *i as f64,
            Some(v) => return Err(err(key, format!("must be a number, got {}", v.type_str()))),
        };
        if !x.is_finite() || x < min {
            return Err(err(key, format!("is {x}; it must be a finite number >= {min}")));
        }
        Ok(x)
    }
    fn count(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, KeyError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if (min..=max).contains(i) => Ok(Some(*i)),
            Some(Value::Integer(i)) => Err(err(key, format!("is {i}; it must be between {min} and {max}"))),
            Some(v) => Err(err(key, format!("must be an integer, got {}", v.type_str()))),
        }
    }
    fn flag(&self, key: &str, default: bool) -> Result<bool, KeyError> {
        match self.0.get(key) {
            None => Ok(default),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(err(key, format!("must be true or false, got {}", v.type_str()))),
        }
    }
}

/// The default response cache: `~/.cache/armada/llm` (or `$ARMADA_CACHE/llm`).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARMADA_CACHE") {
        return PathBuf::from(dir).join("llm");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("armada").join("llm")
}

fn parse_settings(t: &Table) -> Result<LlmSettings, KeyError> {
    for key in t.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(err(key, format!("unknown key of an llm policy; valid keys: {}", KEYS[1..].join(", "))));
        }
    }
    let k = Keys(t);
    let provider = match k.choice("provider", &["local", "openai"], "local")?.as_str() {
        "local" => {
            for key in ["base_url", "api_key_env", "structured", "timeout"] {
                if t.contains_key(key) {
                    return Err(err(key, "applies to provider = \"openai\" only; remove it"));
                }
            }
            let model = k.string("model")?.map(PathBuf::from).unwrap_or_else(crate::local::default_model_path);
            if !model.is_file() {
                return Err(err(
                    "model",
                    format!(
                        "{} is not a file; run scripts/fetch-smollm2.sh for the default model, or give the path of a GGUF file",
                        model.display()
                    ),
                ));
            }
            ProviderSettings::Local { model }
        }
        _ => {
            let model = k.string("model")?.ok_or_else(|| {
                err("model", "is required with provider = \"openai\" (the model name the server knows)")
            })?;
            let base_url = k.string("base_url")?.ok_or_else(|| {
                err("base_url", "is required with provider = \"openai\", e.g. \"http://127.0.0.1:8080/v1\"")
            })?;
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                return Err(err("base_url", format!("is \"{base_url}\"; it must start with http:// or https://")));
            }
            let structured = k
                .string("structured")?
                .map(|s| s.parse::<Structured>().map_err(|m| err("structured", m)))
                .transpose()?
                .unwrap_or_default();
            ProviderSettings::OpenAi {
                base_url,
                model,
                api_key_env: k.string("api_key_env")?,
                structured,
                timeout_s: match k.float("timeout", 60.0, 0.001)? {
                    t if t > 86_400.0 => return Err(err("timeout", format!("is {t} s; at most 86400 (a day)"))),
                    t => t,
                },
            }
        }
    };
    let scenario = k.string("scenario")?.unwrap_or_else(|| "auto".to_string());
    if scenario != "auto" && Scenario::built_in(&scenario).is_none() {
        // A file: read it now so a typo is reported with the spec.
        Scenario::from_file(std::path::Path::new(&scenario)).map_err(|m| err("scenario", m))?;
    }
    let layer_name = k.choice("layer", &["raw", "summary", "guided"], "summary")?;
    let guide_name = k.choice("guide", &["ucb", "kl-ucb", "thompson", "linucb"], "ucb")?;
    if layer_name != "guided" && (t.contains_key("guide") || t.contains_key("guide_alpha")) {
        return Err(err(
            if t.contains_key("guide") { "guide" } else { "guide_alpha" },
            "applies to layer = \"guided\" only",
        ));
    }
    let layer = match layer_name.as_str() {
        "raw" => Layer::Raw,
        "summary" => Layer::Summary,
        _ => Layer::Guided(match guide_name.as_str() {
            "ucb" => Guide::Ucb { alpha: k.float("guide_alpha", 0.5, 0.0)? },
            "linucb" => Guide::LinUcb { alpha: k.float("guide_alpha", 1.0, 0.0)? },
            other => {
                if t.contains_key("guide_alpha") {
                    return Err(err("guide_alpha", format!("does not apply to guide = \"{other}\"")));
                }
                if other == "kl-ucb" { Guide::KlUcb } else { Guide::Thompson }
            }
        }),
    };
    if t.contains_key("history") && layer != Layer::Raw {
        return Err(err("history", "applies to layer = \"raw\" only (it truncates the round-by-round history)"));
    }
    let instruction = match k.choice("instruction", &["detailed", "base"], "detailed")?.as_str() {
        "base" => Instruction::Base,
        _ => Instruction::Detailed,
    };
    let reasoning = k.flag("reasoning", false)?;
    let decide = match k.choice("decide", &["generate", "likelihood"], "generate")?.as_str() {
        "likelihood" => Decide::Likelihood,
        _ => Decide::Generate,
    };
    if decide == Decide::Likelihood {
        if !matches!(provider, ProviderSettings::Local { .. }) {
            return Err(err(
                "decide",
                "\"likelihood\" needs provider = \"local\" (it scores every name with the model)",
            ));
        }
        for key in ["reasoning", "reasks", "fallback", "constrain", "max_tokens"] {
            if t.contains_key(key) {
                return Err(err(key, "does not apply with decide = \"likelihood\" (no answer is generated)"));
            }
        }
    }
    let fallback = match k.choice("fallback", &["random", "forfeit"], "random")?.as_str() {
        "forfeit" => Fallback::Forfeit { reward: k.float("forfeit_reward", 0.0, f64::NEG_INFINITY)? },
        _ => {
            if t.contains_key("forfeit_reward") {
                return Err(err("forfeit_reward", "applies to fallback = \"forfeit\" only"));
            }
            Fallback::Random
        }
    };
    let behaviour = Behaviour {
        temperature: k.float("temperature", 0.0, 0.0)?,
        max_tokens: k.count("max_tokens", 1, 32_768)?.unwrap_or(if reasoning { 256 } else { 16 }) as u32,
        decide,
        constrain: k.flag("constrain", false)?,
        reasks: k.count("reasks", 0, 10)?.unwrap_or(0) as u32,
        fallback,
    };
    let demos = match k.string("demos")?.as_deref() {
        None | Some("none") => {
            for key in ["demo_count", "demo_layer", "demo_steps", "demo_env"] {
                if t.contains_key(key) {
                    return Err(err(key, "applies only with demos = \"<policy>\""));
                }
            }
            None
        }
        Some(teacher) => {
            let def = find_policy(teacher).ok_or_else(|| {
                err("demos", format!("unknown policy \"{teacher}\"; name a built-in policy (e.g. \"ucb\") or \"none\""))
            })?;
            // Demonstrations in another layer than the agent's; a guided layer keeps the
            // agent's guide, or BanditBench's UCB(0.5) when the agent has none.
            let demo_layer = match k.choice("demo_layer", &["same", "raw", "summary", "guided"], "same")?.as_str() {
                "raw" => Some(Layer::Raw),
                "summary" => Some(Layer::Summary),
                "guided" => Some(match &layer {
                    Layer::Guided(g) => Layer::Guided(g.clone()),
                    _ => Layer::Guided(Guide::Ucb { alpha: 0.5 }),
                }),
                _ => None,
            };
            let steps = match k.choice("demo_steps", &["points", "trajectory"], "points")?.as_str() {
                "trajectory" => DemoSteps::Trajectory,
                _ => DemoSteps::Points,
            };
            let env = match k.string("demo_env")? {
                None => None,
                Some(name) => Some(EnvPreset::from_name(&name).ok_or_else(|| {
                    let names: Vec<&str> = armada::env::presets::ENV_PRESETS.iter().map(|p| p.name()).collect();
                    err(
                        "demo_env",
                        format!("unknown environment preset \"{name}\"; valid presets: {}", names.join(", ")),
                    )
                })?),
            };
            Some(DemoSettings {
                teacher: def.name,
                count: k.count("demo_count", 1, 50)?.unwrap_or(5) as usize,
                layer: demo_layer,
                steps,
                env,
            })
        }
    };
    let cache_mode = match k.choice("cache_mode", &["read-write", "read-only", "off"], "read-write")?.as_str() {
        "read-only" => CacheMode::ReadOnly,
        "off" => CacheMode::Off,
        _ => CacheMode::ReadWrite,
    };
    Ok(LlmSettings {
        provider,
        scenario,
        layer,
        instruction,
        history: k.count("history", 1, i64::MAX)?.map(|h| h as usize),
        reasoning,
        behaviour,
        demos,
        cache: k.string("cache")?.map(PathBuf::from),
        cache_mode,
        concurrency: k.count("concurrency", 1, 1024)?.unwrap_or(4) as usize,
        retries: k.count("retries", 0, 100)?.unwrap_or(5) as u32,
        prices: Prices {
            input_per_million: k.float("price_input", 0.0, 0.0)?,
            output_per_million: k.float("price_output", 0.0, 0.0)?,
        },
    })
}

/// Builds LLM agents for runs.
pub struct LlmFactory {
    pub settings: LlmSettings,
    client: Mutex<Option<Arc<Client>>>,
}

impl std::fmt::Debug for LlmFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmFactory").field("settings", &self.settings).finish()
    }
}

/// Clients shared by every factory in the process, keyed by their settings.
static CLIENTS: Mutex<Vec<(String, Arc<Client>)>> = Mutex::new(Vec::new());
/// Local models loaded in this process, by file.
static LOCAL_MODELS: Mutex<Vec<(PathBuf, Arc<crate::local::LocalProvider>)>> = Mutex::new(Vec::new());

impl LlmFactory {
    /// How this agent is asked to write its answer (for fine-tuning targets).
    pub fn answer_format(&self) -> crate::demos::AnswerFormat {
        use crate::demos::AnswerFormat;
        let s = &self.settings;
        let json = matches!(
            s.provider,
            ProviderSettings::OpenAi { structured: Structured::JsonSchema | Structured::JsonObject, .. }
        );
        if s.reasoning {
            AnswerFormat::AnswerLine
        } else if s.behaviour.constrain && json {
            AnswerFormat::Json
        } else {
            AnswerFormat::Name
        }
    }

    /// A factory for these settings (the provider is reached on first use).
    pub fn new(settings: LlmSettings) -> Self {
        LlmFactory { settings, client: Mutex::new(None) }
    }

    fn provider_identity(&self) -> String {
        match &self.settings.provider {
            ProviderSettings::Local { model } => {
                format!("local:{}", model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            }
            ProviderSettings::OpenAi { base_url, model, structured, .. } => {
                format!("openai:{}:{model}:{structured}", base_url.trim_end_matches('/'))
            }
        }
    }

    /// The shared client for these settings, created on first use.
    pub fn client(&self) -> Result<Arc<Client>, String> {
        let mut mine = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = &*mine {
            return Ok(c.clone());
        }
        let s = &self.settings;
        let cache_dir = s.cache.clone().unwrap_or_else(default_cache_dir);
        let key = format!(
            "{:?}|{}|{:?}|{}|{}|{:?}",
            s.provider,
            cache_dir.display(),
            s.cache_mode,
            s.concurrency,
            s.retries,
            (s.prices.input_per_million, s.prices.output_per_million)
        );
        let mut all = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = all.iter().find(|(k, _)| *k == key) {
            *mine = Some(c.clone());
            return Ok(c.clone());
        }
        let provider: Arc<dyn Provider> = match &s.provider {
            ProviderSettings::Local { model } => {
                // One loaded model per file, whatever the client settings.
                let mut models = LOCAL_MODELS.lock().unwrap_or_else(|e| e.into_inner());
                match models.iter().find(|(path, _)| path == model) {
                    Some((_, p)) => p.clone(),
                    None => {
                        let p = Arc::new(crate::local::LocalProvider::load(model).map_err(|e| e.to_string())?);
                        models.push((model.clone(), p.clone()));
                        p
                    }
                }
            }
            ProviderSettings::OpenAi { base_url, model, api_key_env, structured, timeout_s } => {
                let mut config = OpenAiConfig::new(base_url.clone(), model.clone());
                config.api_key_env = api_key_env.clone();
                config.structured = *structured;
                config.timeout = Duration::from_secs_f64(*timeout_s);
                Arc::new(OpenAiProvider::new(config).map_err(|e| e.to_string())?)
            }
        };
        let options = ClientOptions {
            cache: (s.cache_mode != CacheMode::Off).then_some((cache_dir, s.cache_mode)),
            max_concurrency: s.concurrency,
            max_retries: s.retries,
            prices: s.prices,
            ..ClientOptions::default()
        };
        let client = Arc::new(Client::new(provider, options).map_err(|e| e.to_string())?);
        all.push((key, client.clone()));
        *mine = Some(client.clone());
        Ok(client)
    }

    fn scenario_for(&self, env: &EnvSpec) -> Result<Scenario, String> {
        let name = match (self.settings.scenario.as_str(), &env.scenario) {
            ("auto", Some(own)) => own.as_str(),
            ("auto", None) if matches!(env.kind, EnvKind::MovieLens(_)) => "movies",
            ("auto", None) => "buttons",
            (other, _) => other,
        };
        match Scenario::built_in(name) {
            Some(s) => Ok(s),
            None => Scenario::from_file(std::path::Path::new(name)),
        }
    }
}

impl AgentFactory for LlmFactory {
    fn identity(&self) -> String {
        let s = &self.settings;
        let b = &s.behaviour;
        let mut parts = vec![
            format!("provider={}", self.provider_identity()),
            format!("scenario={}", s.scenario),
            format!("layer={}", s.layer.name()),
        ];
        if let Layer::Guided(g) = &s.layer {
            parts.push(format!("guide={}", g.name()));
            match g {
                Guide::Ucb { alpha } | Guide::LinUcb { alpha } => parts.push(format!("guide_alpha={alpha}")),
                _ => {}
            }
        }
        parts.push(format!("instruction={}", if s.instruction == Instruction::Base { "base" } else { "detailed" }));
        if let Some(h) = s.history {
            parts.push(format!("history={h}"));
        }
        parts.push(format!("temperature={}", b.temperature));
        match b.decide {
            Decide::Likelihood => parts.push("decide=likelihood".into()),
            Decide::Generate => {
                parts.push(format!("reasoning={}", s.reasoning));
                parts.push(format!("max_tokens={}", b.max_tokens));
                parts.push(format!("constrain={}", b.constrain));
                parts.push(format!("reasks={}", b.reasks));
                match b.fallback {
                    Fallback::Random => parts.push("fallback=random".into()),
                    Fallback::Forfeit { reward } => parts.push(format!("fallback=forfeit({reward})")),
                }
            }
        }
        if let Some(d) = &s.demos {
            parts.push(format!(
                "demos={}x{}:{}{}{}",
                d.teacher,
                d.count,
                d.steps.name(),
                d.layer.as_ref().map(|l| format!(":{}", l.name())).unwrap_or_default(),
                d.env.map(|e| format!(":{}", e.name())).unwrap_or_default()
            ));
        }
        format!("llm({})", parts.join(","))
    }

    fn check_env(&self, env: &EnvSpec) -> Result<(), String> {
        if let EnvKind::MovieLens(m) = &env.kind
            && m.settings.evaluation == Evaluation::Replay
        {
            return Err("an LLM agent cannot run under evaluation = \"replay\" (every rejected step would cost a \
                        model call); use the model evaluation"
                .into());
        }
        if let Some(d) = &self.settings.demos
            && !env.is_contextual()
            && find_policy(d.teacher).is_some_and(|p| p.contextual)
        {
            return Err(format!(
                "demos = \"{}\" needs a contextual environment; use a classic teacher such as \"ucb\"",
                d.teacher
            ));
        }
        if self.settings.demos.as_ref().is_some_and(|d| d.env.is_some()) && env.is_contextual() {
            return Err("demo_env (a numeric preset) applies to classic environments only; remove it".into());
        }
        if let Layer::Guided(Guide::LinUcb { .. }) = self.settings.layer
            && !env.is_contextual()
        {
            return Err("guide = \"linucb\" needs a contextual environment; use \"ucb\" here".into());
        }
        self.scenario_for(env)?.check(&env.kind, env.arms())
    }

    fn to_toml(&self) -> Table {
        let s = &self.settings;
        let b = &s.behaviour;
        let mut t = Table::new();
        let str_ = |x: &str| Value::String(x.to_string());
        t.insert("name".into(), str_("llm"));
        match &s.provider {
            ProviderSettings::Local { model } => {
                t.insert("provider".into(), str_("local"));
                t.insert("model".into(), str_(&model.display().to_string()));
            }
            ProviderSettings::OpenAi { base_url, model, api_key_env, structured, timeout_s } => {
                t.insert("provider".into(), str_("openai"));
                t.insert("model".into(), str_(model));
                t.insert("base_url".into(), str_(base_url));
                if let Some(k) = api_key_env {
                    t.insert("api_key_env".into(), str_(k));
                }
                t.insert("structured".into(), str_(structured.name()));
                t.insert("timeout".into(), Value::Float(*timeout_s));
            }
        }
        t.insert("scenario".into(), str_(&s.scenario));
        t.insert("layer".into(), str_(s.layer.name()));
        if let Layer::Guided(g) = &s.layer {
            t.insert("guide".into(), str_(g.name()));
            if let Guide::Ucb { alpha } | Guide::LinUcb { alpha } = g {
                t.insert("guide_alpha".into(), Value::Float(*alpha));
            }
        }
        t.insert("instruction".into(), str_(if s.instruction == Instruction::Base { "base" } else { "detailed" }));
        if let Some(h) = s.history {
            t.insert("history".into(), Value::Integer(h as i64));
        }
        t.insert("temperature".into(), Value::Float(b.temperature));
        match b.decide {
            Decide::Likelihood => {
                t.insert("decide".into(), str_("likelihood"));
            }
            Decide::Generate => {
                t.insert("decide".into(), str_("generate"));
                t.insert("reasoning".into(), Value::Boolean(s.reasoning));
                t.insert("max_tokens".into(), Value::Integer(i64::from(b.max_tokens)));
                t.insert("constrain".into(), Value::Boolean(b.constrain));
                t.insert("reasks".into(), Value::Integer(i64::from(b.reasks)));
                match b.fallback {
                    Fallback::Random => {
                        t.insert("fallback".into(), str_("random"));
                    }
                    Fallback::Forfeit { reward } => {
                        t.insert("fallback".into(), str_("forfeit"));
                        t.insert("forfeit_reward".into(), Value::Float(reward));
                    }
                }
            }
        }
        if let Some(d) = &s.demos {
            t.insert("demos".into(), str_(d.teacher));
            t.insert("demo_count".into(), Value::Integer(d.count as i64));
            t.insert("demo_layer".into(), str_(d.layer.as_ref().map_or("same", Layer::name)));
            t.insert("demo_steps".into(), str_(d.steps.name()));
            if let Some(e) = d.env {
                t.insert("demo_env".into(), str_(e.name()));
            }
        }
        if let Some(c) = &s.cache {
            t.insert("cache".into(), str_(&c.display().to_string()));
        }
        t.insert("cache_mode".into(), str_(s.cache_mode.name()));
        t.insert("concurrency".into(), Value::Integer(s.concurrency as i64));
        t.insert("retries".into(), Value::Integer(i64::from(s.retries)));
        t.insert("price_input".into(), Value::Float(s.prices.input_per_million));
        t.insert("price_output".into(), Value::Float(s.prices.output_per_million));
        t
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn build(&self, run: &AgentRun<'_>) -> Result<Box<dyn Agent>, String> {
        let client = self.client()?;
        let prompter = self.prompter(run)?;
        let s = &self.settings;
        let world = run.world.map(|w| Arc::new(describe_contexts(w, &prompter.names)));
        let memory = Memory::for_run(prompter.names.len(), &s.layer, run.world);
        Ok(Box::new(LlmAgent::new(
            client,
            prompter,
            s.behaviour.clone(),
            memory,
            run.stream(Role::Policy),
            run.stream(Role::Fallback),
            world,
        )))
    }
}

impl LlmFactory {
    /// The prompt renderer of this agent in `run`: scenario, the run's names, layer settings and
    /// demonstrations.
    pub fn prompter(&self, run: &AgentRun<'_>) -> Result<Prompter, String> {
        let scenario = self.scenario_for(run.env)?;
        let names = scenario.names_for(run)?;
        let s = &self.settings;
        let mut prompter = Prompter {
            scenario,
            names,
            rewards: run.rewards,
            horizon: run.horizon,
            layer: s.layer.clone(),
            instruction: s.instruction,
            history: s.history,
            reasoning: s.reasoning,
            demos: String::new(),
        };
        if let Some(d) = &s.demos {
            prompter.demos = demonstrations(d, &prompter, run)?;
        }
        Ok(prompter)
    }
}
