//! The client every agent talks through: retries, concurrency limit, response cache, ledger.
//!
//! A [`Provider`] makes one attempt per call. [`Client`] wraps any provider (HTTP or in-process)
//! with what a benchmark run needs around it:
//!
//! - the [response cache](crate::cache): a hit never reaches the provider, a fresh answer is
//!   stored before it is returned (so a crash right after loses nothing), and in read-only
//!   ("replay") mode a miss is an error;
//! - a limit on simultaneous provider calls (a counting semaphore; callers beyond the limit
//!   wait; the limit is not held while backing off);
//! - retries of transient failures with exponential backoff and full jitter, honouring a
//!   server's `Retry-After`; fatal failures return at once;
//! - a run-level [`Ledger`] of calls, attempts, failures by kind, tokens, cost and latency.
//!
//! Providers tell the client what kind of transient failure they met, and how long the server
//! asked them to wait, through [`report_transient`]: a thread-local hint set just before the
//! provider returns [`ProviderError::Transient`]. The client calls the provider on the calling
//! thread, so the hint reaches the retry loop that made the call; a provider that reports
//! nothing gets [`TransientKind::Other`] and plain backoff. This keeps [`ProviderError`] a
//! two-variant value that every provider can build.

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::cache::{CacheError, CacheMode, ResponseCache};
use crate::chat::{ChatRequest, ChatResponse, Message, Provider, ProviderError};

/// The longest `Retry-After` the client honours; a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What kind of transient failure an attempt met (for the ledger).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransientKind {
    /// The exchange exceeded its timeout (or the server answered 408).
    Timeout,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// A body that is not a completion: not JSON, truncated, no choices.
    Garbage,
    /// The connection could not be made or was dropped before a response.
    Connection,
    /// Anything else, including failures of providers that report no kind.
    Other,
}

/// What a provider knows about the transient failure it is about to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransientHint {
    /// The kind of failure.
    pub kind: TransientKind,
    /// How long the server asked to wait before the next attempt (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
}

thread_local! {
    static HINT: Cell<Option<TransientHint>> = const { Cell::new(None) };
}

/// Called by a provider just before it returns [`ProviderError::Transient`], on the thread that
/// called it, to tell the client's retry loop what happened. Optional; the last report wins.
pub fn report_transient(hint: TransientHint) {
    HINT.with(|cell| cell.set(Some(hint)));
}

fn take_hint() -> Option<TransientHint> {
    HINT.with(Cell::take)
}

/// Prices of tokens, in any currency, per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prices {
    /// Price of a million prompt tokens.
    pub input_per_million: f64,
    /// Price of a million generated tokens.
    pub output_per_million: f64,
}

impl Prices {
    /// The price of one response's tokens.
    pub fn cost(&self, response: &ChatResponse) -> f64 {
        (response.prompt_tokens as f64 * self.input_per_million
            + response.completion_tokens as f64 * self.output_per_million)
            / 1e6
    }
}

/// How a [`Client`] behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// The response cache directory and mode; `None` (or mode off) for no cache.
    pub cache: Option<(PathBuf, CacheMode)>,
    /// Most provider calls in progress at once (0 counts as 1).
    pub max_concurrency: usize,
    /// Retries after the first attempt, so at most `max_retries + 1` attempts per call.
    pub max_retries: u32,
    /// Backoff before retry `i` (from 0) is a random fraction of `base_delay · 2^i`…
    pub base_delay: Duration,
    /// …capped at `max_delay`.
    pub max_delay: Duration,
    /// Token prices for the cost columns.
    pub prices: Prices,
}

impl Default for ClientOptions {
    /// No cache, 4 concurrent calls, 4 retries, backoff from 0.5 s up to 30 s, free tokens.
    fn default() -> Self {
        ClientOptions {
            cache: None,
            max_concurrency: 4,
            max_retries: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            prices: Prices::default(),
        }
    }
}

/// The answer to one [`Client::chat`] call, with what it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The model's answer.
    pub response: ChatResponse,
    /// Whether it came from the cache (then no provider call was made).
    pub cached: bool,
    /// Provider calls made (0 when cached).
    pub attempts: u32,
    /// Wall time of the successful attempt (zero when cached).
    pub latency: Duration,
    /// What this call spent: the response's tokens at the client's prices, 0 when cached.
    pub cost: f64,
}

/// The answer to one [`Client::score`] call.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreReply {
    /// Log-probability of each candidate, in the candidates' order.
    pub scores: Vec<f64>,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Provider calls made (0 when cached).
    pub attempts: u32,
    /// Wall time of the successful attempt (zero when cached).
    pub latency: Duration,
}

/// Transient failures by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TransientCounts {
    /// Timeouts (and HTTP 408).
    pub timeout: u64,
    /// HTTP 429.
    pub rate_limited: u64,
    /// HTTP 5xx.
    pub server_error: u64,
    /// Bodies that were not completions (not JSON, truncated, no choices).
    pub garbage: u64,
    /// Connections refused or dropped.
    pub connection: u64,
    /// Failures of unreported kind.
    pub other: u64,
}

impl TransientCounts {
    /// All transient failures.
    pub fn total(&self) -> u64 {
        self.timeout + self.rate_limited + self.server_error + self.garbage + self.connection + self.other
    }

    fn count(&mut self, kind: TransientKind) {
        let slot = match kind {
            TransientKind::Timeout => &mut self.timeout,
            TransientKind::RateLimited => &mut self.rate_limited,
            TransientKind::ServerError => &mut self.server_error,
            TransientKind::Garbage => &mut self.garbage,
            TransientKind::Connection => &mut self.connection,
            TransientKind::Other => &mut self.other,
        };
        *slot += 1;
    }
}

/// What a client did since it was made: one per run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Ledger {
    /// Chat and score calls answered or failed (score calls the provider cannot serve are not
    /// counted).
    pub calls: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    /// Provider calls made.
    pub attempts: u64,
    /// Provider calls that were retries (attempts after the first of a call).
    pub retries: u64,
    /// Transient failures by kind.
    pub transient: TransientCounts,
    /// Fatal failures.
    pub fatal: u64,
    /// Prompt tokens of responses the provider produced in this run (not cached ones).
    pub prompt_tokens: u64,
    /// Completion tokens of responses the provider produced in this run.
    pub completion_tokens: u64,
    /// What those tokens cost at the client's prices.
    pub cost: f64,
    /// Wall time of successful attempts, summed.
    pub latency: Duration,
    /// Cache entries found corrupt (and treated as misses).
    pub cache_corrupt: u64,
    /// Cache entries that could not be written.
    pub cache_write_errors: u64,
}

/// Why a client call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The provider refused the request; not retried.
    Fatal {
        /// The provider's message.
        message: String,
        /// Provider calls made, the failing one included.
        attempts: u32,
    },
    /// Every attempt failed with a transient error.
    RetriesExhausted {
        /// The last attempt's error.
        last: String,
        /// Provider calls made.
        attempts: u32,
    },
    /// The cache could not be opened, or (replay) held no answer.
    Cache(CacheError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Fatal { message, attempts: 1 } => write!(f, "{message} (not retried)"),
            ClientError::Fatal { message, attempts } => write!(f, "{message} (attempt {attempts}, not retried)"),
            ClientError::RetriesExhausted { last, attempts: 1 } => write!(f, "gave up after 1 attempt: {last}"),
            ClientError::RetriesExhausted { last, attempts } => {
                write!(f, "gave up after {attempts} attempts; the last failed with: {last}")
            }
            ClientError::Cache(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<CacheError> for ClientError {
    fn from(e: CacheError) -> Self {
        ClientError::Cache(e)
    }
}

/// A counting semaphore: at most `limit` permits out at once.
struct Semaphore {
    free: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    fn new(limit: usize) -> Self {
        Semaphore { free: Mutex::new(limit.max(1)), released: Condvar::new() }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.released.notify_one();
    }
}

/// Locks a mutex, carrying on past a panic in another holder (the data are counters).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How a retry loop ended.
enum Attempted<T> {
    /// Success after this many attempts; the last took this long.
    Done(T, u32, Duration),
    /// The provider does not offer this kind of call.
    Unsupported,
    /// Fatal, or transient until the retries ran out.
    Failed(ClientError),
}

/// A provider with retries, a concurrency limit, a cache and a ledger. Share it between
/// threads by reference or in an `Arc`.
pub struct Client {
    provider: Arc<dyn Provider>,
    identity: String,
    options: ClientOptions,
    cache: Option<ResponseCache>,
    permits: Semaphore,
    ledger: Mutex<Ledger>,
    jitter: Mutex<Xoshiro256PlusPlus>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("identity", &self.identity)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Wraps `provider`. Fails when the cache directory cannot be created (read-write) or does
    /// not exist (read-only).
    pub fn new(provider: Arc<dyn Provider>, options: ClientOptions) -> Result<Client, ClientError> {
        let cache = match &options.cache {
            Some((dir, mode)) if *mode != CacheMode::Off => Some(ResponseCache::open(dir.clone(), *mode)?),
            _ => None,
        };
        // Jitter only spreads retries in time; a clock seed is enough.
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Ok(Client {
            identity: provider.identity(),
            provider,
            permits: Semaphore::new(options.max_concurrency),
            options,
            cache,
            ledger: Mutex::new(Ledger::default()),
            jitter: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
        })
    }

    /// The provider's identity (part of every cache key).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The response cache, when there is one.
    pub fn cache(&self) -> Option<&ResponseCache> {
        self.cache.as_ref()
    }

    /// A snapshot of the ledger.
    pub fn ledger(&self) -> Ledger {
        let mut ledger = lock(&self.ledger).clone();
        if let Some(cache) = &self.cache {
            let stats = cache.stats();
            ledger.cache_corrupt = stats.corrupt;
            ledger.cache_write_errors = stats.write_errors;
        }
        ledger
    }

    /// Answers `request`: from the cache when it can, else from the provider, retrying
    /// transient failures.
    pub fn chat(&self, request: &ChatRequest) -> Result<Reply, ClientError> {
        let result = self.chat_inner(request);
        self.finish(&result);
        result
    }

    fn chat_inner(&self, request: &ChatRequest) -> Result<Reply, ClientError> {
        if let Some(cache) = &self.cache
            && let Some(response) = cache.get_chat(&self.identity, request)?
        {
            lock(&self.ledger).cache_hits += 1;
            return Ok(Reply { response, cached: true, attempts: 0, latency: Duration::ZERO, cost: 0.0 });
        }
        match self.retrying(|| Some(self.provider.chat(request))) {
            Attempted::Done(response, attempts, latency) => {
                if let Some(cache) = &self.cache {
                    // A failed write is counted by the cache (and shown in the ledger); the
                    // answer is still good.
                    let _ = cache.put_chat(&self.identity, request, &response);
                }
                let cost = self.options.prices.cost(&response);
                let mut ledger = lock(&self.ledger);
                ledger.prompt_tokens += response.prompt_tokens;
                ledger.completion_tokens += response.completion_tokens;
                ledger.cost += cost;
                Ok(Reply { response, cached: false, attempts, latency, cost })
            }
            Attempted::Unsupported => Err(ClientError::Fatal {
                message: format!("provider {} gave no answer to a chat request", self.identity),
                attempts: 0,
            }),
            Attempted::Failed(error) => Err(error),
        }
    }

    /// Scores `candidates` as the assistant's answer to `messages` (cached and retried like
    /// [`chat`](Self::chat)). `None` when the provider cannot score. In replay mode a miss is
    /// an error even for a provider that could not have scored.
    pub fn score(&self, messages: &[Message], candidates: &[String]) -> Option<Result<ScoreReply, ClientError>> {
        let result = self.score_inner(messages, candidates)?;
        self.finish(&result);
        Some(result)
    }

    fn score_inner(&self, messages: &[Message], candidates: &[String]) -> Option<Result<ScoreReply, ClientError>> {
        if let Some(cache) = &self.cache {
            match cache.get_score(&self.identity, messages, candidates) {
                Ok(Some(scores)) => {
                    lock(&self.ledger).cache_hits += 1;
                    return Some(Ok(ScoreReply { scores, cached: true, attempts: 0, latency: Duration::ZERO }));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
        let attempt = || {
            self.provider.score(messages, candidates).map(|result| {
                result.and_then(|scores| {
                    if scores.len() == candidates.len() {
                        Ok(scores)
                    } else {
                        Err(ProviderError::Fatal(format!(
                            "provider {} returned {} scores for {} candidates",
                            self.identity,
                            scores.len(),
                            candidates.len()
                        )))
                    }
                })
            })
        };
        match self.retrying(attempt) {
            Attempted::Done(scores, attempts, latency) => {
                if let Some(cache) = &self.cache {
                    let _ = cache.put_score(&self.identity, messages, candidates, &scores);
                }
                Some(Ok(ScoreReply { scores, cached: false, attempts, latency }))
            }
            Attempted::Unsupported => None,
            Attempted::Failed(error) => Some(Err(error)),
        }
    }

    /// Counts a finished call in the ledger.
    fn finish<T>(&self, result: &Result<T, ClientError>) {
        let mut ledger = lock(&self.ledger);
        ledger.calls += 1;
        if result.is_err() {
            ledger.failures += 1;
        }
    }

    /// Calls `attempt` under the concurrency limit until it succeeds, fails fatally, or has
    /// failed transiently `max_retries + 1` times, backing off between attempts.
    fn retrying<T>(&self, mut attempt: impl FnMut() -> Option<Result<T, ProviderError>>) -> Attempted<T> {
        let mut attempts = 0u32;
        loop {
            let (result, elapsed, hint) = {
                let _permit = self.permits.acquire();
                take_hint();
                let start = Instant::now();
                let result = attempt();
                (result, start.elapsed(), take_hint())
            };
            let Some(result) = result else { return Attempted::Unsupported };
            attempts += 1;
            let mut ledger = lock(&self.ledger);
            ledger.attempts += 1;
            if attempts > 1 {
                ledger.retries += 1;
            }
            match result {
                Ok(value) => {
                    ledger.latency += elapsed;
                    return Attempted::Done(value, attempts, elapsed);
                }
                Err(ProviderError::Fatal(message)) => {
                    ledger.fatal += 1;
                    return Attempted::Failed(ClientError::Fatal { message, attempts });
                }
                Err(ProviderError::Transient(message)) => {
                    let hint = hint.unwrap_or(TransientHint { kind: TransientKind::Other, retry_after: None });
                    ledger.transient.count(hint.kind);
                    drop(ledger);
                    if attempts > self.options.max_retries {
                        return Attempted::Failed(ClientError::RetriesExhausted {
                            last: ProviderError::Transient(message).to_string(),
                            attempts,
                        });
                    }
                    std::thread::sleep(self.backoff(attempts - 1, hint.retry_after));
                }
            }
        }
    }

    /// The wait before retry `retry` (from 0): a uniformly random fraction of
    /// `min(max_delay, base_delay · 2^retry)` ("full jitter"), but at least what the server
    /// asked for (up to [`MAX_RETRY_AFTER`]).
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.options.base_delay.saturating_mul(1u32 << retry.min(31)).min(self.options.max_delay);
        let fraction = (lock(&self.jitter).next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let jittered = ceiling.mul_f64(fraction);
        match retry_after {
            Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }
}
