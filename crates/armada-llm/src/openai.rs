//! The OpenAI-compatible chat-completions provider.
//!
//! One [`OpenAiProvider`] talks to OpenAI, vLLM, llama.cpp's `llama-server`, llama-cpp-python,
//! Ollama and the like: one `POST {base_url}/chat/completions` per [`Provider::chat`] call,
//! blocking, with a timeout on the whole exchange (so a body dribbled byte by byte still times
//! out). How a request's `choices` are enforced differs between servers; [`Structured`] picks
//! the field to send.
//!
//! This module makes one attempt and classifies its failure: transient (timeouts, dropped
//! connections, 429, 5xx, a body that is not a completion) or fatal (other 4xx, a bad URL).
//! Retries, backoff, the cache and the ledger live in [`crate::client`]; the provider tells
//! the client what kind of transient failure it met and how long the server asked it to wait
//! through [`crate::client::report_transient`].
//!
//! The API key is read once from the environment variable the config names; it is never part
//! of the config, the identity, the `Debug` output or any error message.

use std::fmt;
use std::io::ErrorKind;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::chat::{ChatRequest, ChatResponse, Provider, ProviderError};
use crate::client::{TransientHint, TransientKind, report_transient};

/// Largest response body read (a completion is a few kilobytes).
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Longest excerpt of a server's body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// How a request's `choices` are enforced on the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Structured {
    /// Send nothing; the answer parser copes with free text.
    #[default]
    None,
    /// OpenAI structured output: `response_format: {type: "json_schema", json_schema: {name,
    /// strict: true, schema}}` with the schema `{"choice": one of the names}` (OpenAI, vLLM,
    /// Ollama, llama-server; llama-cpp-python answers 500).
    JsonSchema,
    /// `response_format: {type: "json_object", schema}` (llama-server, llama-cpp-python).
    JsonObject,
    /// llama.cpp's native `grammar`: GBNF whose root is one of the names, as string literals.
    Grammar,
    /// vLLM's `structured_outputs: {choice: names}`.
    Choice,
}

impl Structured {
    /// All modes, in the order of their names in [`Structured::name`].
    pub const ALL: [Structured; 5] =
        [Structured::None, Structured::JsonSchema, Structured::JsonObject, Structured::Grammar, Structured::Choice];

    /// The name used in specs, on the command line and in the provider identity.
    pub fn name(self) -> &'static str {
        match self {
            Structured::None => "none",
            Structured::JsonSchema => "json_schema",
            Structured::JsonObject => "json_object",
            Structured::Grammar => "grammar",
            Structured::Choice => "choice",
        }
    }
}

impl fmt::Display for Structured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Structured {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Structured::ALL.into_iter().find(|mode| mode.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Structured::ALL.iter().map(|mode| mode.name()).collect();
            format!("unknown structured-output mode {s:?}: expected one of {}", names.join(", "))
        })
    }
}

/// Where and how to reach an OpenAI-compatible server.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiConfig {
    /// The API root, e.g. `http://127.0.0.1:8080/v1` or `https://api.openai.com/v1`; requests
    /// go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// Name of the environment variable holding the API key (e.g. `OPENAI_API_KEY`), sent as
    /// `Authorization: Bearer …`. `None` for local servers that need no key.
    pub api_key_env: Option<String>,
    /// Limit on one whole exchange: connect, send, wait, read the entire body.
    pub timeout: Duration,
    /// How `choices` are enforced.
    pub structured: Structured,
    /// Extra body fields passed through as they are (e.g. `top_p`). They cannot override the
    /// fields the provider sets itself (model, messages, temperature, max_tokens, seed and the
    /// structured-output field).
    pub extra: Map<String, Value>,
}

impl OpenAiConfig {
    /// A config with no key, a 60-second timeout, no structured output and no extra fields.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            timeout: Duration::from_secs(60),
            structured: Structured::None,
            extra: Map::new(),
        }
    }
}

/// A [`Provider`] speaking the OpenAI chat-completions protocol over HTTP(S).
pub struct OpenAiProvider {
    config: OpenAiConfig,
    endpoint: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("config", &self.config)
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// Checks the config and reads the API key from the environment. Fails (fatally) on a URL
    /// that is not http(s), an empty model name, or a named key variable that is unset or empty.
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::Fatal(format!(
                "base_url {:?} is not an http(s) URL; expected e.g. http://127.0.0.1:8080/v1",
                config.base_url
            )));
        }
        if config.model.trim().is_empty() {
            return Err(ProviderError::Fatal(format!("no model name given for {base}")));
        }
        let api_key = match &config.api_key_env {
            None => None,
            Some(name) => match std::env::var(name) {
                Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
                Ok(_) | Err(std::env::VarError::NotPresent) => {
                    return Err(ProviderError::Fatal(format!(
                        "the environment variable {name} (api_key_env) is not set or empty: export {name}=<key> \
                         for {base}, or drop api_key_env for a server that needs no key"
                    )));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ProviderError::Fatal(format!("the environment variable {name} is not valid UTF-8")));
                }
            },
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("armada-llm/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let endpoint = format!("{base}/chat/completions");
        Ok(OpenAiProvider { config, endpoint, api_key, agent })
    }

    /// The config this provider was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The JSON body sent for `request`.
    pub fn body(&self, request: &ChatRequest) -> Value {
        let mut body = self.config.extra.clone();
        body.insert("model".into(), json!(self.config.model));
        body.insert("messages".into(), serde_json::to_value(&request.messages).unwrap_or(Value::Null));
        body.insert("temperature".into(), json!(request.temperature));
        body.insert("max_tokens".into(), json!(request.max_tokens));
        match request.seed {
            Some(seed) => body.insert("seed".into(), json!(seed)),
            None => body.remove("seed"),
        };
        for field in ["response_format", "grammar", "structured_outputs"] {
            body.remove(field);
        }
        if let Some(names) = request.choices.as_deref().filter(|names| !names.is_empty()) {
            match self.config.structured {
                Structured::None => {}
                Structured::JsonSchema => {
                    body.insert(
                        "response_format".into(),
                        json!({
                            "type": "json_schema",
                            "json_schema": {"name": "choice", "strict": true, "schema": choice_schema(names)},
                        }),
                    );
                }
                Structured::JsonObject => {
                    body.insert(
                        "response_format".into(),
                        json!({"type": "json_object", "schema": choice_schema(names)}),
                    );
                }
                Structured::Grammar => {
                    body.insert("grammar".into(), json!(choice_grammar(names)));
                }
                Structured::Choice => {
                    body.insert("structured_outputs".into(), json!({"choice": names}));
                }
            }
        }
        Value::Object(body)
    }

    fn transient(&self, kind: TransientKind, retry_after: Option<Duration>, message: String) -> ProviderError {
        report_transient(TransientHint { kind, retry_after });
        ProviderError::Transient(message)
    }

    /// Maps a failure of ureq (before or while reading the response) to a provider error.
    fn transport_error(&self, error: ureq::Error, reading_body: Option<u16>) -> ProviderError {
        let url = &self.endpoint;
        let during = match reading_body {
            Some(status) => format!("reading the body of HTTP {status} from {url}"),
            None => format!("calling {url}"),
        };
        let timeout_kind = |kind: ErrorKind| matches!(kind, ErrorKind::TimedOut | ErrorKind::WouldBlock);
        match error {
            ureq::Error::Timeout(ureq::Timeout::Global) => self.transient(
                TransientKind::Timeout,
                None,
                format!("timed out after {:?} (the whole-request timeout) {during}", self.config.timeout),
            ),
            ureq::Error::Timeout(which) => {
                self.transient(TransientKind::Timeout, None, format!("timed out ({which:?} timeout) {during}"))
            }
            ureq::Error::Io(e) if timeout_kind(e.kind()) => {
                self.transient(TransientKind::Timeout, None, format!("timed out {during}: {e}"))
            }
            // A body cut short: the server promised more than it sent.
            ureq::Error::Io(e) if reading_body.is_some() => {
                self.transient(TransientKind::Garbage, None, format!("truncated response {during}: {e}"))
            }
            ureq::Error::Protocol(e) if reading_body.is_some() => {
                self.transient(TransientKind::Garbage, None, format!("malformed response {during}: {e}"))
            }
            ureq::Error::Io(e) => {
                self.transient(TransientKind::Connection, None, format!("connection failed or dropped {during}: {e}"))
            }
            ureq::Error::Protocol(e) => {
                self.transient(TransientKind::Connection, None, format!("HTTP protocol error {during}: {e}"))
            }
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                self.transient(TransientKind::Connection, None, format!("cannot connect {during}: {error}"))
            }
            ureq::Error::BodyExceedsLimit(limit) => {
                self.transient(TransientKind::Garbage, None, format!("response larger than {limit} bytes {during}"))
            }
            ureq::Error::Decompress(..) => {
                self.transient(TransientKind::Garbage, None, format!("undecodable response {during}: {error}"))
            }
            other => ProviderError::Fatal(format!("{during}: {other}")),
        }
    }

    /// Maps a non-success status to a provider error.
    fn status_error(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> ProviderError {
        let url = &self.endpoint;
        let said = server_message(body);
        let message = format!("HTTP {status} from {url}: {said}");
        match status {
            429 => self.transient(TransientKind::RateLimited, retry_after, message),
            408 => self.transient(TransientKind::Timeout, retry_after, message),
            500..=599 => self.transient(TransientKind::ServerError, retry_after, message),
            401 | 403 => {
                let hint = match &self.config.api_key_env {
                    Some(name) => format!("check the key in ${name}"),
                    None => "the server wants a key: set api_key_env to the name of the variable holding it \
                             (e.g. OPENAI_API_KEY)"
                        .to_string(),
                };
                ProviderError::Fatal(format!("{message}; {hint}"))
            }
            404 => ProviderError::Fatal(format!(
                "{message}; check base_url (it usually ends in /v1) and the model name {:?}",
                self.config.model
            )),
            _ => ProviderError::Fatal(message),
        }
    }
}

impl Provider for OpenAiProvider {
    /// `openai:{base_url}:{model}:{structured}`, plus the canonical JSON of `extra` when it is
    /// not empty. The base URL is part of it because servers such as llama-server ignore the
    /// model name, so one name at two addresses may be two models (the price: a server moved to
    /// another port starts with an empty cache). The key is not.
    fn identity(&self) -> String {
        let url = self.config.base_url.trim_end_matches('/');
        let mut identity = format!("openai:{url}:{}:{}", self.config.model, self.config.structured);
        if !self.config.extra.is_empty() {
            identity.push(':');
            identity.push_str(&crate::cache::canonical(&Value::Object(self.config.extra.clone())).to_string());
        }
        identity
    }

    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let mut call = self.agent.post(&self.endpoint).header("Accept", "application/json");
        if let Some(key) = &self.api_key {
            call = call.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = call.send_json(self.body(request)).map_err(|e| self.transport_error(e, None))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec();
        if !(200..300).contains(&status) {
            // The status decides; a lost error body only costs the message.
            return Err(self.status_error(status, retry_after, body.as_deref().unwrap_or_default()));
        }
        let body = body.map_err(|e| self.transport_error(e, Some(status)))?;
        parse_completion(&body).map_err(|why| {
            self.transient(
                TransientKind::Garbage,
                None,
                format!("HTTP {status} from {} is not a chat completion ({why}): {}", self.endpoint, excerpt(&body)),
            )
        })
    }
}

/// The JSON schema `{"choice": one of names}`.
fn choice_schema(names: &[String]) -> Value {
    json!({
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": names}},
        "required": ["choice"],
        "additionalProperties": false,
    })
}

/// A GBNF grammar whose root is exactly one of `names`: `root ::= "a" | "b"`.
pub fn choice_grammar(names: &[String]) -> String {
    let alternatives: Vec<String> = names.iter().map(|name| gbnf_literal(name)).collect();
    format!("root ::= {}", alternatives.join(" | "))
}

/// `text` as a GBNF string literal: quotes and backslashes escaped, control characters as
/// `\n`, `\r`, `\t` or `\xHH`; everything else (including non-ASCII) as it is.
fn gbnf_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => literal.push_str(&format!("\\x{:02X}", c as u32)),
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

/// Reads `choices[0].message` and `usage` from a completion body.
fn parse_completion(body: &[u8]) -> Result<ChatResponse, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| "no choices".to_string())?;
    let message = choice.get("message").ok_or_else(|| "no message in choices[0]".to_string())?;
    let content = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        // Content as a list of parts: keep the text parts.
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        Some(other) => return Err(format!("content is neither text nor null: {other}")),
    };
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|field| message.get(*field).and_then(Value::as_str))
        .filter(|text| !text.is_empty())
        .map(str::to_string);
    let usage = value.get("usage");
    let tokens = |field: &str| usage.and_then(|u| u.get(field)).and_then(Value::as_u64).unwrap_or(0);
    Ok(ChatResponse {
        content,
        reasoning,
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
        finish_reason: choice.get("finish_reason").and_then(Value::as_str).map(str::to_string),
    })
}

/// The delay a server asks for: `retry-after-ms` (OpenAI) or `Retry-After` in seconds
/// (an HTTP date is ignored).
fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        let value = headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok()?;
        (value.is_finite() && value >= 0.0).then_some(value)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms.min(1e9) / 1000.0));
    }
    number("retry-after").map(|s| Duration::from_secs_f64(s.min(1e6)))
}

/// The error message a server put in its body (`error.message`, `error`, `message`,
/// `detail`), or an excerpt of the body.
fn server_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let found = [
            value.pointer("/error/message"),
            value.get("error").filter(|e| e.is_string()),
            value.get("message"),
            value.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(Value::as_str);
        if let Some(message) = found {
            return excerpt(message.as_bytes());
        }
    }
    if body.is_empty() { "(empty body)".to_string() } else { excerpt(body) }
}

/// The start of `body` on one line, at most [`EXCERPT_CHARS`] characters.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_names_round_trip() {
        for mode in Structured::ALL {
            assert_eq!(mode.name().parse::<Structured>(), Ok(mode));
        }
        assert!("json".parse::<Structured>().unwrap_err().contains("json_schema"));
    }

    #[test]
    fn grammar_escapes_literals() {
        let names = vec![
            "a".to_string(),
            "say \"hi\"".to_string(),
            "back\\slash".to_string(),
            "tab\tnew\nbell\u{7}".to_string(),
        ];
        assert_eq!(choice_grammar(&names), r#"root ::= "a" | "say \"hi\"" | "back\\slash" | "tab\tnew\nbell\x07""#);
    }

    #[test]
    fn completion_parsing() {
        let body = br#"{"choices":[{"message":{"content":null,"reasoning":"hmm"},"finish_reason":"length"}]}"#;
        let response = parse_completion(body).unwrap();
        assert_eq!(response.content, "");
        assert_eq!(response.reasoning.as_deref(), Some("hmm"));
        assert_eq!((response.prompt_tokens, response.completion_tokens), (0, 0));
        assert_eq!(response.finish_reason.as_deref(), Some("length"));
        assert!(parse_completion(br#"{"choices":[]}"#).unwrap_err().contains("no choices"));
        assert!(parse_completion(b"{\"choi").unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn server_messages_and_excerpts() {
        assert_eq!(server_message(br#"{"error":{"message":"bad key"}}"#), "bad key");
        assert_eq!(server_message(br#"{"error":"nope"}"#), "nope");
        assert_eq!(server_message(b""), "(empty body)");
        let long = "x".repeat(500);
        assert!(excerpt(long.as_bytes()).ends_with('…'));
    }
}
