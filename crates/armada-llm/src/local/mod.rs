//! The in-process local model: SmolLM2-135M-Instruct (or another LLaMA GGUF with a ChatML
//! template and a GPT-2-style tokenizer) run on the CPU, behind the [`Provider`] contract.
//!
//! [`LocalProvider::load`] reads a GGUF file (with `candle_core`'s GGUF reader); the forward
//! pass, the quantized kernels, the tokenizer and the chat template are this module's own. A
//! provider is shared by threads: the weights are read-only, and a small pool of [`Session`]s
//! (token list + KV cache) lets consecutive prompts that share a prefix (the system prompt, a
//! growing history) compute only the tokens after the longest common prefix.
//!
//! Guarantees: every call runs on the caller's thread and nowhere else (two agents on two
//! cores do not contend for a thread pool); the same request gives bit-identical logits and the
//! same answer whatever session served it and whether a prefix was reused (the computation is
//! batch-invariant by construction, see the `kernels` module); the AVX2 and portable kernels
//! give the same bits, so CPU features do not change answers (transcendental functions come
//! from the platform's libm). Not here: retries, the response cache, token accounting across
//! calls (the client layers those on every provider).
//!
//! Decoding (see the `generate` module): greedy at temperature 0, otherwise sampling seeded by
//! the request's seed; `choices` are enforced by constrained decoding over the names' tokens;
//! and [`Provider::score`] gives each candidate's log-probability as the assistant's whole
//! answer (followed by the end of the turn).

mod generate;
mod kernels;
mod model;
mod template;
mod tokenizer;

pub use model::ModelConfig;
pub use template::{ChatTemplate, TURN_END, TURN_START};
pub use tokenizer::Tokenizer;

use crate::chat::{ChatRequest, ChatResponse, Message, Provider, ProviderError};
use candle_core::quantized::gguf_file::{Content, Value};
use model::{KvCache, Model};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The model file's name under `models/` in the repository.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The environment variable that overrides [`default_model_path`].
pub const MODEL_PATH_ENV: &str = "ARMADA_LOCAL_MODEL";
/// Version of this implementation's numerics and prompt format: part of the identity, bumped
/// whenever a change can change an answer.
const IMPLEMENTATION: &str = "v1";
/// Tokens computed per forward call when processing a prompt. It bounds the scratch memory of
/// a call; results do not depend on it.
const CHUNK: usize = 64;
/// Idle sessions kept for prefix reuse; the least recently returned is dropped beyond this.
const MAX_IDLE_SESSIONS: usize = 4;
/// Tokens a prompt must share with an idle session to take it over (fewer: a new session).
const MIN_SHARED_PREFIX: usize = 16;

/// Where the local model is expected: `$ARMADA_LOCAL_MODEL` when set, otherwise
/// `models/SmolLM2-135M-Instruct.Q4_1.gguf` in this repository (where
/// `scripts/fetch-smollm2.sh` puts it).
pub fn default_model_path() -> PathBuf {
    match std::env::var_os(MODEL_PATH_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            let repo = crate_dir.parent().and_then(Path::parent).unwrap_or(crate_dir);
            repo.join("models").join(DEFAULT_MODEL_FILE)
        }
    }
}

/// Why the local model could not be loaded or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalError {
    /// The model file does not exist.
    MissingModel(PathBuf),
    /// The model file exists but could not be read.
    Io {
        /// The model file.
        path: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// The file is not a model this provider can run (malformed GGUF, missing or unsupported
    /// metadata, tensors of the wrong shape).
    BadModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A request the model cannot serve (longer than the context, unknown token ids, no choices).
    BadInput(String),
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::MissingModel(path) => write!(
                f,
                "local model file {} not found: run scripts/fetch-smollm2.sh to fetch it \
                 (or set {MODEL_PATH_ENV} to a GGUF file)",
                path.display()
            ),
            LocalError::Io { path, message } => write!(f, "cannot read local model file {}: {message}", path.display()),
            LocalError::BadModel { path, message } => {
                write!(f, "{} is not a model the local provider can run: {message}", path.display())
            }
            LocalError::BadInput(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for LocalError {}

impl From<LocalError> for ProviderError {
    fn from(e: LocalError) -> ProviderError {
        ProviderError::Fatal(e.to_string())
    }
}

/// A token list and the KV cache that holds exactly those tokens. A provider keeps a few in a
/// pool; [`LocalProvider::new_session`] makes one to drive by hand.
pub struct Session {
    tokens: Vec<u32>,
    cache: KvCache,
    reused: usize,
}

impl Session {
    /// The tokens whose keys and values are cached.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// How many tokens of the last prompt were taken from the cache instead of computed.
    pub fn reused(&self) -> usize {
        self.reused
    }

    fn truncate(&mut self, len: usize) {
        self.tokens.truncate(len);
        self.cache.truncate(len);
    }
}

/// The in-process local model, as a [`Provider`].
pub struct LocalProvider {
    model: Model,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    turn_start: u32,
    turn_end: u32,
    identity: String,
    idle: Mutex<Vec<Session>>,
}

/// Runs candle's GGUF reader, turning a panic inside it into an error message.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the GGUF reader failed on this file (malformed?)".into()))
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl LocalProvider {
    /// Loads a GGUF model. Errors name the file; a missing file says how to fetch it.
    pub fn load(path: &Path) -> Result<LocalProvider, LocalError> {
        if !path.exists() {
            return Err(LocalError::MissingModel(path.to_path_buf()));
        }
        let io = |e: std::io::Error| LocalError::Io { path: path.to_path_buf(), message: e.to_string() };
        let bad = |message: String| LocalError::BadModel { path: path.to_path_buf(), message };
        let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
        let content = guarded(|| Content::read(&mut reader).map_err(|e| format!("not a readable GGUF file: {e}")))
            .map_err(bad)?;
        let config = ModelConfig::from_gguf(&content).map_err(bad)?;
        let tokenizer = Tokenizer::from_gguf(&content).map_err(bad)?;
        if tokenizer.vocab_size() != config.vocab {
            return Err(bad(format!(
                "the tokenizer has {} tokens but the embedding table {} rows",
                tokenizer.vocab_size(),
                config.vocab
            )));
        }
        let template = match content.metadata.get("tokenizer.chat_template") {
            None => ChatTemplate::chatml(),
            Some(Value::String(t)) => ChatTemplate::from_jinja(t).map_err(bad)?,
            Some(_) => return Err(bad("tokenizer.chat_template is not a string".into())),
        };
        let special = |name: &str| {
            tokenizer
                .token_id(name)
                .filter(|&id| tokenizer.is_special(id))
                .ok_or_else(|| bad(format!("the vocabulary has no special token {name} (needed by ChatML)")))
        };
        let (turn_start, turn_end) = (special(TURN_START)?, special(TURN_END)?);
        let model = guarded(|| Model::load(&content, &mut reader, config)).map_err(bad)?;
        let digest = sha256_of(path).map_err(io)?;
        let stem = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let stem = stem.strip_suffix(".gguf").unwrap_or(&stem);
        let identity = format!("local:{stem}:{}:{IMPLEMENTATION}", &digest[..12]);
        Ok(LocalProvider { model, tokenizer, template, turn_start, turn_end, identity, idle: Mutex::new(Vec::new()) })
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template prompts are rendered with.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The model's dimensions.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// The token that ends the assistant's turn (`<|im_end|>`).
    pub fn turn_end(&self) -> u32 {
        self.turn_end
    }

    /// The tokens of the prompt for `messages`: the templated conversation followed by the
    /// opening of the assistant's turn.
    pub fn prompt_tokens(&self, messages: &[Message]) -> Vec<u32> {
        self.template.tokens(&self.tokenizer, self.turn_start, self.turn_end, messages)
    }

    /// A new, empty session (not from the pool).
    pub fn new_session(&self) -> Session {
        Session { tokens: Vec::new(), cache: KvCache::new(&self.model.config), reused: 0 }
    }

    /// The next-token logits after `tokens`, computed in `session`: the longest common prefix
    /// of `tokens` and the session's tokens is reused (all but the last token at most), the rest
    /// is computed, and the session then holds `tokens`.
    pub fn next_token_logits(&self, session: &mut Session, tokens: &[u32]) -> Result<Vec<f32>, LocalError> {
        self.prefill(session, tokens)
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), LocalError> {
        let vocab = self.model.config.vocab;
        match tokens.iter().find(|&&t| t as usize >= vocab) {
            Some(t) => Err(LocalError::BadInput(format!("token id {t} is outside the vocabulary of {vocab}"))),
            None => Ok(()),
        }
    }

    fn check_length(&self, len: usize) -> Result<(), LocalError> {
        let context = self.model.config.context;
        if len > context {
            return Err(LocalError::BadInput(format!(
                "{len} tokens do not fit in the model's context of {context} tokens"
            )));
        }
        Ok(())
    }

    /// Processes `prompt` in `session` (reusing its longest common prefix) and returns the
    /// next-token logits after the prompt's last token.
    fn prefill(&self, session: &mut Session, prompt: &[u32]) -> Result<Vec<f32>, LocalError> {
        if prompt.is_empty() {
            return Err(LocalError::BadInput("an empty prompt has no next-token logits".into()));
        }
        self.check_tokens(prompt)?;
        self.check_length(prompt.len())?;
        let common = session.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        // The last prompt token is always recomputed: its logits are the answer.
        let keep = common.min(prompt.len() - 1);
        session.truncate(keep);
        session.reused = keep;
        let mut logits = Vec::new();
        let rest = &prompt[keep..];
        let chunks = rest.len().div_ceil(CHUNK);
        for (i, chunk) in rest.chunks(CHUNK).enumerate() {
            let from = if i + 1 == chunks { chunk.len() - 1 } else { chunk.len() };
            logits = self.model.forward(&mut session.cache, chunk, from);
            session.tokens.extend_from_slice(chunk);
        }
        Ok(logits)
    }

    /// Appends `tokens` to the session and returns the next-token logits of those from index
    /// `logits_from` on.
    fn extend(&self, session: &mut Session, tokens: &[u32], logits_from: usize) -> Result<Vec<f32>, LocalError> {
        self.check_tokens(tokens)?;
        self.check_length(session.tokens.len() + tokens.len())?;
        let logits = self.model.forward(&mut session.cache, tokens, logits_from);
        session.tokens.extend_from_slice(tokens);
        Ok(logits)
    }

    /// Takes the idle session sharing the longest prefix with `prompt` (a new one if none).
    fn lease(&self, prompt: &[u32]) -> Lease<'_> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let common = |s: &Session| s.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        // Ties go to the most recently returned session (the last one). A session sharing only
        // the template's first tokens is left to the conversation it belongs to.
        let best = (0..idle.len()).max_by_key(|&i| (common(&idle[i]), i));
        let session = match best {
            Some(i) if common(&idle[i]) >= MIN_SHARED_PREFIX => idle.remove(i),
            _ => self.new_session(),
        };
        Lease { provider: self, session: Some(session) }
    }

    /// Sessions currently idle in the pool.
    pub fn idle_sessions(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A session taken from the pool; returned to it when dropped (unless a panic interrupted the
/// work, which may have left the cache out of step with the token list).
struct Lease<'a> {
    provider: &'a LocalProvider,
    session: Option<Session>,
}

impl Lease<'_> {
    fn session(&mut self) -> &mut Session {
        self.session.as_mut().expect("a lease holds its session until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(session) = self.session.take() {
            let mut idle = self.provider.idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.push(session);
            if idle.len() > MAX_IDLE_SESSIONS {
                idle.remove(0);
            }
        }
    }
}

impl Provider for LocalProvider {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let prompt = self.prompt_tokens(&request.messages);
        let mut lease = self.lease(&prompt);
        let response = match &request.choices {
            Some(names) => generate::choose(self, lease.session(), &prompt, names, request),
            None => generate::generate(self, lease.session(), &prompt, request),
        };
        Ok(response?)
    }

    fn score(&self, messages: &[Message], candidates: &[String]) -> Option<Result<Vec<f64>, ProviderError>> {
        let prompt = self.prompt_tokens(messages);
        let mut lease = self.lease(&prompt);
        Some(generate::score(self, lease.session(), &prompt, candidates).map_err(ProviderError::from))
    }
}
