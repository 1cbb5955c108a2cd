//! The content-addressed response cache on disk.
//!
//! A response is stored under the SHA-256 of what determines it: the kind of call (chat or
//! score, separate namespaces), the provider's [`identity`](crate::chat::Provider::identity)
//! and the canonical JSON of the request (object keys sorted, so the key does not depend on
//! serde_json's map ordering). The entry `dir/ab/abcdef….json` holds the identity and request
//! too, for inspection and as a check against a misplaced file, then the response.
//!
//! Writes are atomic (a temporary file in the same directory, then a rename), so a killed
//! process never leaves half an entry, and two threads or processes writing the same key are
//! harmless: the content is identical and the last rename wins. An entry that cannot be read
//! or parsed, or that answers a different request, counts as a miss and is reported in
//! [`CacheStats::corrupt`]; the cache never panics on what it finds on disk.
//!
//! The cache knows nothing of retries or providers: the [`client`](crate::client) decides when
//! to look up and when to store.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::chat::{ChatRequest, ChatResponse, Message};

/// Version of the entry layout, stored in each entry.
const FORMAT: u64 = 1;

/// Distinguishes temporary files of concurrent writers within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What the cache may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// Answer hits from disk, store new responses (the default).
    #[default]
    ReadWrite,
    /// Replay: answer only from disk; a miss is an error, nothing is written.
    ReadOnly,
    /// No cache: every call goes to the provider.
    Off,
}

impl CacheMode {
    /// The name used in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::ReadWrite => "read-write",
            CacheMode::ReadOnly => "read-only",
            CacheMode::Off => "off",
        }
    }
}

impl fmt::Display for CacheMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CacheMode {
    type Err = String;

    /// Accepts `read-write` (or `rw`), `read-only` (or `replay`), `off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read-write" | "rw" => Ok(CacheMode::ReadWrite),
            "read-only" | "replay" => Ok(CacheMode::ReadOnly),
            "off" => Ok(CacheMode::Off),
            other => Err(format!("unknown cache mode {other:?}: expected read-write, read-only (replay) or off")),
        }
    }
}

/// Why the cache could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheError {
    /// Read-only mode and no usable entry for this key.
    NotCached {
        /// The entry's key (hex SHA-256).
        key: String,
        /// Where the entry was looked for.
        path: PathBuf,
    },
    /// The cache directory is unusable.
    Io(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::NotCached { key, path } => write!(
                f,
                "replay: no cached response for key {key} (looked for {}): the run is not fully cached; \
                 run it once with the cache in read-write mode",
                path.display()
            ),
            CacheError::Io(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CacheError {}

/// Counters of what the cache did since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Lookups answered from disk.
    pub hits: u64,
    /// Lookups that found no usable entry (including corrupt ones).
    pub misses: u64,
    /// Entries found unreadable, unparsable or answering another request (counted as misses).
    pub corrupt: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries that could not be written (the response was still returned to the caller).
    pub write_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    corrupt: AtomicU64,
    writes: AtomicU64,
    write_errors: AtomicU64,
}

/// A response cache in one directory. Cheap to share between threads (`&self` everywhere).
#[derive(Debug)]
pub struct ResponseCache {
    dir: PathBuf,
    mode: CacheMode,
    counters: Counters,
}

impl ResponseCache {
    /// Opens the cache in `dir`. In read-write mode the directory is created if needed; in
    /// read-only mode it must exist (there is nothing to replay otherwise).
    pub fn open(dir: impl Into<PathBuf>, mode: CacheMode) -> Result<Self, CacheError> {
        let dir = dir.into();
        match mode {
            CacheMode::ReadWrite => fs::create_dir_all(&dir).map_err(|e| {
                CacheError::Io(format!("cannot create the response cache directory {}: {e}", dir.display()))
            })?,
            CacheMode::ReadOnly if !dir.is_dir() => {
                return Err(CacheError::Io(format!(
                    "replay: the response cache directory {} does not exist; run once with the cache in \
                     read-write mode",
                    dir.display()
                )));
            }
            CacheMode::ReadOnly | CacheMode::Off => {}
        }
        Ok(ResponseCache { dir, mode, counters: Counters::default() })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The mode the cache was opened in.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            corrupt: c.corrupt.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    /// The key of a chat request to a provider with this identity (64 hex digits).
    pub fn chat_key(identity: &str, request: &ChatRequest) -> String {
        key_of(&chat_subject(identity, request))
    }

    /// The key of a score request (a namespace separate from chat requests).
    pub fn score_key(identity: &str, messages: &[Message], candidates: &[String]) -> String {
        key_of(&score_subject(identity, messages, candidates))
    }

    /// Where the entry for `key` lives: `dir/ab/abcdef….json`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        let prefix = key.get(..2).unwrap_or("__");
        self.dir.join(prefix).join(format!("{key}.json"))
    }

    /// The cached response to `request`, if any. `Ok(None)` is a miss (or mode off); in
    /// read-only mode a miss is [`CacheError::NotCached`].
    pub fn get_chat(&self, identity: &str, request: &ChatRequest) -> Result<Option<ChatResponse>, CacheError> {
        let subject = chat_subject(identity, request);
        self.get(&subject, |response| serde_json::from_value(response.clone()).ok())
    }

    /// Stores the response to `request` (a no-op unless read-write). A failed write is counted
    /// in [`CacheStats::write_errors`] and returned.
    pub fn put_chat(&self, identity: &str, request: &ChatRequest, response: &ChatResponse) -> Result<(), CacheError> {
        let subject = chat_subject(identity, request);
        let response = serde_json::to_value(response).unwrap_or(Value::Null);
        self.put(&subject, response)
    }

    /// The cached scores of `candidates` as answers to `messages`, if any (see
    /// [`get_chat`](Self::get_chat)).
    pub fn get_score(
        &self,
        identity: &str,
        messages: &[Message],
        candidates: &[String],
    ) -> Result<Option<Vec<f64>>, CacheError> {
        let subject = score_subject(identity, messages, candidates);
        self.get(&subject, |response| {
            let scores = response.as_array()?.iter().map(score_from_json).collect::<Option<Vec<f64>>>()?;
            (scores.len() == candidates.len()).then_some(scores)
        })
    }

    /// Stores scores (see [`put_chat`](Self::put_chat)). Infinite and NaN scores are stored as
    /// strings, since JSON has no such numbers.
    pub fn put_score(
        &self,
        identity: &str,
        messages: &[Message],
        candidates: &[String],
        scores: &[f64],
    ) -> Result<(), CacheError> {
        let subject = score_subject(identity, messages, candidates);
        self.put(&subject, Value::Array(scores.iter().map(|&s| score_to_json(s)).collect()))
    }

    fn get<T>(&self, subject: &Value, decode: impl FnOnce(&Value) -> Option<T>) -> Result<Option<T>, CacheError> {
        if self.mode == CacheMode::Off {
            return Ok(None);
        }
        let key = key_of(subject);
        let path = self.path_of(&key);
        let found = match fs::read(&path) {
            Ok(bytes) => {
                let decoded = serde_json::from_slice::<Value>(&bytes).ok().and_then(|entry| {
                    let matches = entry.get("format") == Some(&json!(FORMAT))
                        && entry.get("subject").map(canonical).as_ref() == Some(subject);
                    if matches { entry.get("response").and_then(decode) } else { None }
                });
                if decoded.is_none() {
                    self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                }
                decoded
            }
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(_) => {
                self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        match found {
            Some(value) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(value))
            }
            None => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                if self.mode == CacheMode::ReadOnly { Err(CacheError::NotCached { key, path }) } else { Ok(None) }
            }
        }
    }

    fn put(&self, subject: &Value, response: Value) -> Result<(), CacheError> {
        if self.mode != CacheMode::ReadWrite {
            return Ok(());
        }
        let key = key_of(subject);
        let path = self.path_of(&key);
        let entry = json!({"format": FORMAT, "key": key, "subject": subject, "response": response});
        match write_atomically(&path, &key, &entry) {
            Ok(()) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                Err(CacheError::Io(format!("cannot write the cache entry {}: {e}", path.display())))
            }
        }
    }
}

/// What a chat entry answers: namespace, identity, request, in canonical form.
fn chat_subject(identity: &str, request: &ChatRequest) -> Value {
    let request = serde_json::to_value(request).unwrap_or(Value::Null);
    canonical(&json!({"kind": "chat", "identity": identity, "request": request}))
}

fn score_subject(identity: &str, messages: &[Message], candidates: &[String]) -> Value {
    let messages = serde_json::to_value(messages).unwrap_or(Value::Null);
    canonical(&json!({"kind": "score", "identity": identity, "messages": messages, "candidates": candidates}))
}

/// `value` with every object's keys sorted, whatever serde_json's map ordering is.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Hex SHA-256 of the compact JSON text of a canonical value.
fn key_of(subject: &Value) -> String {
    let digest = Sha256::digest(subject.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn score_to_json(score: f64) -> Value {
    if score.is_finite() {
        json!(score)
    } else if score.is_nan() {
        json!("nan")
    } else if score > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

fn score_from_json(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Writes `entry` to a temporary file next to `path`, flushes it to disk, and renames it over
/// `path`, so readers see either no entry or a whole one.
fn write_atomically(path: &Path, key: &str, entry: &Value) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{key}.{}.{unique}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        let mut text = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        text.push(b'\n');
        file.write_all(&text)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}
