//! Chat types and the provider contract.
//!
//! A [`Provider`] answers one [`ChatRequest`] with one [`ChatResponse`]: one attempt, no retry,
//! no cache. Retries, the concurrency limit, the response cache and the token/cost ledger are
//! layered on top by the client, so every provider (HTTP or in-process) gets them the same way.

use serde::{Deserialize, Serialize};

/// Who speaks a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Speaker,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Speaker::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Speaker::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Speaker::Assistant, content: content.into() }
    }
}

/// One request to a chat model. Everything that can change the answer is in here (with the
/// provider's own identity), so the response cache can key on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    /// Sampling temperature; 0 means greedy decoding.
    pub temperature: f64,
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    /// Sampling seed, for servers that honour one (llama.cpp, vLLM, Ollama, OpenAI best-effort).
    pub seed: Option<u64>,
    /// When set, the answer must be exactly one of these strings. A provider that can
    /// constrain its output (structured output, a grammar, constrained decoding) does so; one
    /// that cannot ignores it, and the answer parser copes.
    pub choices: Option<Vec<String>>,
}

/// A model's answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer text (for a constrained request, the raw text the server returned, e.g. the
    /// JSON object `{"choice": "..."}`).
    pub content: String,
    /// Reasoning text returned separately from the answer (`reasoning_content`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tokens in the prompt, as the server counted them.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
    /// Why generation stopped ("stop", "length", …), when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderError {
    /// Worth retrying: a timeout, HTTP 429 or 5xx, a dropped connection, a body cut short.
    Transient(String),
    /// Not worth retrying: a bad request, a refused key, a model that does not exist.
    Fatal(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Transient(m) => write!(f, "{m} (transient)"),
            ProviderError::Fatal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ProviderError {}

/// A chat model: answers one request per call, from any thread.
pub trait Provider: Send + Sync {
    /// What, besides the request, determines the answer: the kind of provider, the model, and
    /// any option that changes outputs (e.g. how choices are constrained). Part of the response
    /// cache's key, so two providers with the same identity must answer alike.
    fn identity(&self) -> String;

    /// One attempt at answering `request`.
    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError>;

    /// The log-probability of each candidate as the assistant's whole answer to `messages`
    /// (likelihood choice). `None` when the provider cannot score continuations.
    fn score(&self, messages: &[Message], candidates: &[String]) -> Option<Result<Vec<f64>, ProviderError>> {
        let _ = (messages, candidates);
        None
    }
}
