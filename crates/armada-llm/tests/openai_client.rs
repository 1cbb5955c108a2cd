//! The OpenAI-compatible provider and the client (retries, cache, concurrency limit, ledger)
//! against the scripted [`FakeServer`]: request shapes, fault handling, caching.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use armada_llm::cache::{CacheError, CacheMode, ResponseCache};
use armada_llm::chat::{ChatRequest, Message, Provider, ProviderError};
use armada_llm::client::{Client, ClientError, ClientOptions, Prices};
use armada_llm::fake_server::{FakeServer, Fault};
use armada_llm::openai::{OpenAiConfig, OpenAiProvider, Structured};
use serde_json::{Value, json};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("armada-llm-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server whose answer is the last word of the last message, upper-cased.
fn fake() -> FakeServer {
    FakeServer::start(|body: &Value| {
        let last = body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str()).unwrap_or("");
        last.split_whitespace().last().unwrap_or("none").to_uppercase()
    })
}

fn config(server: &FakeServer) -> OpenAiConfig {
    let mut config = OpenAiConfig::new(server.url(), "smollm2-135m");
    config.timeout = Duration::from_secs(5);
    config
}

fn provider(config: OpenAiConfig) -> Arc<OpenAiProvider> {
    Arc::new(OpenAiProvider::new(config).unwrap())
}

fn options() -> ClientOptions {
    ClientOptions {
        cache: None,
        max_concurrency: 4,
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        prices: Prices::default(),
    }
}

fn client(server: &FakeServer) -> Client {
    Client::new(provider(config(server)), options()).unwrap()
}

fn cached_client(server: &FakeServer, dir: &Path, mode: CacheMode) -> Client {
    Client::new(provider(config(server)), ClientOptions { cache: Some((dir.to_path_buf(), mode)), ..options() })
        .unwrap()
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You pull arms."), Message::user(text)],
        temperature: 0.0,
        max_tokens: 16,
        seed: Some(7),
        choices: None,
    }
}

fn choose(names: &[&str]) -> ChatRequest {
    ChatRequest { choices: Some(names.iter().map(|s| s.to_string()).collect()), ..request("pick one of a b") }
}

// ---------------------------------------------------------------- request and response shapes

#[test]
fn happy_path_returns_content_usage_and_sends_the_request_fields() {
    let server = fake();
    let client = Client::new(
        provider(config(&server)),
        ClientOptions { prices: Prices { input_per_million: 1e6, output_per_million: 2e6 }, ..options() },
    )
    .unwrap();
    let reply = client.chat(&ChatRequest { temperature: 0.7, ..request("answer with b") }).unwrap();
    assert_eq!(reply.response.content, "B");
    // The fake server counts words (+1 per message) as tokens.
    assert_eq!(reply.response.prompt_tokens, 3 + 1 + 3 + 1);
    assert_eq!(reply.response.completion_tokens, 1);
    assert_eq!(reply.response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(reply.response.reasoning, None);
    assert!(!reply.cached);
    assert_eq!(reply.attempts, 1);
    assert!(reply.latency > Duration::ZERO);
    assert_eq!(reply.cost, 8.0 + 2.0);

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["model"], "smollm2-135m");
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "You pull arms."}, {"role": "user", "content": "answer with b"}])
    );
    assert_eq!(body["temperature"], 0.7);
    assert_eq!(body["max_tokens"], 16);
    assert_eq!(body["seed"], 7);
    for field in ["response_format", "grammar", "structured_outputs"] {
        assert!(body.get(field).is_none(), "{field} sent without choices");
    }

    client.chat(&ChatRequest { seed: None, ..request("again") }).unwrap();
    assert!(server.requests()[1].get("seed").is_none(), "no seed field when the request has none");

    let ledger = client.ledger();
    assert_eq!((ledger.calls, ledger.attempts, ledger.retries, ledger.cache_hits), (2, 2, 0, 0));
    assert_eq!(ledger.completion_tokens, 2);
    assert_eq!(ledger.prompt_tokens, 8 + 6);
    assert_eq!(ledger.cost, 10.0 + 6.0 + 2.0);
}

#[test]
fn each_structured_mode_sends_its_field() {
    let server = fake();
    let names = ["a", "b"];
    let schema = json!({
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": ["a", "b"]}},
        "required": ["choice"],
        "additionalProperties": false,
    });
    for mode in Structured::ALL {
        let client = Client::new(provider(OpenAiConfig { structured: mode, ..config(&server) }), options()).unwrap();
        client.chat(&choose(&names)).unwrap();
        let body = server.requests().pop().unwrap();
        let fields: Vec<&str> = ["response_format", "grammar", "structured_outputs"]
            .into_iter()
            .filter(|field| body.get(*field).is_some())
            .collect();
        match mode {
            Structured::None => assert!(fields.is_empty(), "{fields:?}"),
            Structured::JsonSchema => {
                assert_eq!(fields, ["response_format"]);
                assert_eq!(
                    body["response_format"],
                    json!({"type": "json_schema", "json_schema": {"name": "choice", "strict": true, "schema": schema}})
                );
            }
            Structured::JsonObject => {
                assert_eq!(fields, ["response_format"]);
                assert_eq!(body["response_format"], json!({"type": "json_object", "schema": schema}));
            }
            Structured::Grammar => {
                assert_eq!(fields, ["grammar"]);
                assert_eq!(body["grammar"], r#"root ::= "a" | "b""#);
            }
            Structured::Choice => {
                assert_eq!(fields, ["structured_outputs"]);
                assert_eq!(body["structured_outputs"], json!({"choice": ["a", "b"]}));
            }
        }
        assert_eq!(client.identity(), format!("openai:{}:smollm2-135m:{}", server.url(), mode.name()));
    }
}

#[test]
fn grammar_escapes_quotes_and_backslashes() {
    let server = fake();
    let client =
        Client::new(provider(OpenAiConfig { structured: Structured::Grammar, ..config(&server) }), options()).unwrap();
    client.chat(&choose(&[r#"say "yes""#, r"C:\arm", "line\nbreak", "naïve"])).unwrap();
    let grammar = server.requests()[0]["grammar"].as_str().unwrap().to_string();
    assert_eq!(grammar, r#"root ::= "say \"yes\"" | "C:\\arm" | "line\nbreak" | "naïve""#);
}

#[test]
fn extra_fields_pass_through_and_join_the_identity() {
    let server = fake();
    let mut extra = serde_json::Map::new();
    extra.insert("top_p".into(), json!(0.9));
    extra.insert("model".into(), json!("not this one"));
    let provider = provider(OpenAiConfig { extra, ..config(&server) });
    let expected = format!(r#"openai:{}:smollm2-135m:none:{{"model":"not this one","top_p":0.9}}"#, server.url());
    assert_eq!(provider.identity(), expected);
    Client::new(provider, options()).unwrap().chat(&request("x")).unwrap();
    let body = &server.requests()[0];
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["model"], "smollm2-135m", "extra fields cannot override the provider's own");
}

#[test]
fn reasoning_content_is_surfaced_and_null_content_is_empty() {
    let server = fake();
    server.script(vec![
        Fault::Reply(json!({
            "choices": [{"message": {"role": "assistant", "content": "{\"choice\": \"a\"}",
                                     "reasoning_content": "a has the best mean"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 30},
        })),
        Fault::Reply(json!({
            "choices": [{"message": {"role": "assistant", "content": null, "reasoning": "thinking…"},
                         "finish_reason": "length"}],
        })),
    ]);
    let client = client(&server);
    let first = client.chat(&request("one")).unwrap().response;
    assert_eq!(first.content, r#"{"choice": "a"}"#);
    assert_eq!(first.reasoning.as_deref(), Some("a has the best mean"));
    assert_eq!((first.prompt_tokens, first.completion_tokens), (12, 30));
    let second = client.chat(&request("two")).unwrap().response;
    assert_eq!(second.content, "");
    assert_eq!(second.reasoning.as_deref(), Some("thinking…"));
    assert_eq!((second.prompt_tokens, second.completion_tokens), (0, 0), "usage absent counts as 0");
    assert_eq!(second.finish_reason.as_deref(), Some("length"));
}

#[test]
fn health_endpoint_answers() {
    let server = fake();
    let base = server.url();
    let health = format!("{}/health", base.trim_end_matches("/v1"));
    let mut response = ureq::get(&health).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.body_mut().read_to_string().unwrap(), r#"{"status":"ok"}"#);
    assert_eq!(server.request_count(), 0, "only chat requests are counted");
}

// ---------------------------------------------------------------- faults

/// Scripts one fault, makes one call with `timeout`, and checks it succeeded on the second
/// attempt; returns the client for ledger checks.
fn survives(fault: Fault, timeout: Duration) -> Client {
    let server = fake();
    server.script(vec![fault.clone()]);
    let client = Client::new(provider(OpenAiConfig { timeout, ..config(&server) }), options()).unwrap();
    let reply = client.chat(&request("fine b")).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
    assert_eq!(reply.response.content, "B", "{fault:?}");
    assert_eq!(reply.attempts, 2, "{fault:?}");
    assert_eq!(server.request_count(), 2, "{fault:?}");
    let ledger = client.ledger();
    assert_eq!((ledger.calls, ledger.attempts, ledger.retries, ledger.failures), (1, 2, 1, 0), "{fault:?}");
    assert_eq!(ledger.transient.total(), 1, "{fault:?}");
    client
}

#[test]
fn rate_limit_is_retried() {
    assert_eq!(survives(Fault::Status(429), Duration::from_secs(5)).ledger().transient.rate_limited, 1);
}

#[test]
fn server_errors_are_retried() {
    assert_eq!(survives(Fault::Status(500), Duration::from_secs(5)).ledger().transient.server_error, 1);
    assert_eq!(survives(Fault::Status(503), Duration::from_secs(5)).ledger().transient.server_error, 1);
}

#[test]
fn garbage_truncated_and_choiceless_bodies_are_retried() {
    assert_eq!(survives(Fault::Garbage, Duration::from_secs(5)).ledger().transient.garbage, 1);
    assert_eq!(survives(Fault::Truncated, Duration::from_secs(5)).ledger().transient.garbage, 1);
    let no_choices = Fault::Reply(json!({"object": "chat.completion", "choices": []}));
    assert_eq!(survives(no_choices, Duration::from_secs(5)).ledger().transient.garbage, 1);
}

#[test]
fn a_hanging_server_times_out_and_is_retried() {
    let started = Instant::now();
    let client = survives(Fault::Hang(Duration::from_secs(3)), Duration::from_millis(300));
    assert_eq!(client.ledger().transient.timeout, 1);
    assert!(started.elapsed() < Duration::from_secs(3), "the timeout, not the hang, ended the attempt");
}

#[test]
fn a_dribbled_body_times_out_under_the_global_timeout() {
    let started = Instant::now();
    // Each byte arrives well within any per-read timeout; only a whole-exchange timeout stops it.
    let client = survives(Fault::SlowBody(Duration::from_millis(20)), Duration::from_millis(400));
    assert_eq!(client.ledger().transient.timeout, 1);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_dropped_connection_is_retried() {
    // Hang for less than the timeout, then close without a response.
    assert_eq!(
        survives(Fault::Hang(Duration::from_millis(20)), Duration::from_secs(5)).ledger().transient.connection,
        1
    );
}

#[test]
fn several_faults_in_a_row_are_all_retried() {
    let server = fake();
    server.script(vec![Fault::Status(502), Fault::Garbage, Fault::Status(429)]);
    let reply = client(&server).chat(&request("b")).unwrap();
    assert_eq!(reply.attempts, 4);
    assert_eq!(server.request_count(), 4);
    assert_eq!(server.served(), 1);
}

#[test]
fn unauthorized_and_bad_request_fail_at_once() {
    for (status, words) in [(401, "Incorrect API key"), (400, "Invalid request"), (404, "check base_url")] {
        let server = fake();
        server.script(vec![Fault::Status(status)]);
        let client = client(&server);
        let error = client.chat(&request("b")).unwrap_err();
        let ClientError::Fatal { attempts, message } = &error else { panic!("{status}: {error:?}") };
        assert_eq!(*attempts, 1);
        assert!(message.contains(&format!("HTTP {status} from {}", server.url())), "{message}");
        assert!(message.contains(words), "{message}");
        assert_eq!(server.request_count(), 1, "{status} is not retried");
        let ledger = client.ledger();
        assert_eq!((ledger.fatal, ledger.failures, ledger.retries), (1, 1, 0));
        if status == 401 {
            assert!(error.to_string().contains("api_key_env"), "{error}");
        }
    }
}

#[test]
fn exhausted_retries_name_the_attempts_and_the_last_error() {
    let server = fake();
    server.fail_all(Some(Fault::Status(503)));
    let client = Client::new(provider(config(&server)), ClientOptions { max_retries: 2, ..options() }).unwrap();
    let error = client.chat(&request("b")).unwrap_err();
    assert!(matches!(&error, ClientError::RetriesExhausted { attempts: 3, .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("3 attempts") && text.contains("HTTP 503"), "{text}");
    assert_eq!(server.request_count(), 3);
    let ledger = client.ledger();
    assert_eq!((ledger.attempts, ledger.retries, ledger.transient.server_error, ledger.failures), (3, 2, 3, 1));

    server.fail_all(None);
    assert_eq!(client.chat(&request("b")).unwrap().attempts, 1, "service resumes");
}

#[test]
fn connection_refused_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = OpenAiConfig::new(format!("http://127.0.0.1:{port}/v1"), "m");
    let client = Client::new(provider(config), ClientOptions { max_retries: 1, ..options() }).unwrap();
    let error = client.chat(&request("b")).unwrap_err();
    assert!(matches!(error, ClientError::RetriesExhausted { attempts: 2, .. }), "{error:?}");
    assert_eq!(client.ledger().transient.connection, 2);
}

#[test]
fn retry_after_is_honoured() {
    let server = fake();
    server.script(vec![Fault::RateLimited(Duration::from_millis(300))]);
    let client = client(&server);
    let started = Instant::now();
    let reply = client.chat(&request("b")).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(reply.attempts, 2);
    assert!(elapsed >= Duration::from_millis(300), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "waited {elapsed:?}");
}

#[test]
fn the_server_survives_a_client_that_hangs_up_mid_body() {
    let server = fake();
    server.script(vec![Fault::SlowBody(Duration::from_millis(10)), Fault::Hang(Duration::from_secs(5))]);
    let impatient = Client::new(
        provider(OpenAiConfig { timeout: Duration::from_millis(150), ..config(&server) }),
        ClientOptions { max_retries: 0, ..options() },
    )
    .unwrap();
    for _ in 0..2 {
        let error = impatient.chat(&request("b")).unwrap_err();
        assert!(matches!(&error, ClientError::RetriesExhausted { attempts: 1, .. }), "{error:?}");
        assert!(error.to_string().contains("timed out"), "{error}");
    }
    assert_eq!(client(&server).chat(&request("b")).unwrap().response.content, "B");
}

#[test]
fn dropping_the_server_does_not_wait_for_hanging_connections() {
    let server = fake();
    server.script(vec![Fault::Hang(Duration::from_secs(30))]);
    let client = Client::new(
        provider(OpenAiConfig { timeout: Duration::from_secs(30), ..config(&server) }),
        ClientOptions { max_retries: 0, ..options() },
    )
    .unwrap();
    std::thread::scope(|scope| {
        let call = scope.spawn(|| client.chat(&request("b")));
        while server.request_count() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(1), "drop took {:?}", started.elapsed());
        assert!(call.join().unwrap().is_err());
    });
}

#[test]
fn a_missing_key_variable_is_a_clear_error() {
    let mut config = OpenAiConfig::new("http://127.0.0.1:9/v1", "gpt-4o-mini");
    config.api_key_env = Some("ARMADA_TEST_KEY_THAT_IS_NOT_SET".into());
    let error = OpenAiProvider::new(config).unwrap_err();
    assert!(matches!(&error, ProviderError::Fatal(m) if m.contains("ARMADA_TEST_KEY_THAT_IS_NOT_SET")), "{error}");
    let error = OpenAiProvider::new(OpenAiConfig::new("127.0.0.1:8080/v1", "m")).unwrap_err();
    assert!(error.to_string().contains("not an http(s) URL"), "{error}");
}

// ---------------------------------------------------------------- concurrency

/// Runs `threads` distinct calls at once and returns the server's peak of simultaneous requests.
fn peak_with(limit: usize, threads: usize) -> usize {
    let server = fake();
    server.set_latency(Duration::from_millis(100));
    let client = Client::new(provider(config(&server)), ClientOptions { max_concurrency: limit, ..options() }).unwrap();
    let start = Barrier::new(threads);
    std::thread::scope(|scope| {
        for i in 0..threads {
            let (client, start) = (&client, &start);
            scope.spawn(move || {
                start.wait();
                client.chat(&request(&format!("call {i}"))).unwrap();
            });
        }
    });
    assert_eq!(server.request_count(), threads);
    server.peak_in_flight()
}

#[test]
fn the_concurrency_limit_is_honoured() {
    let limited = peak_with(2, 8);
    assert!((1..=2).contains(&limited), "peak {limited} with a limit of 2");
    // The measurement can see more than 2, so the bound above means something.
    let unlimited = peak_with(8, 8);
    assert!(unlimited > 2, "peak {unlimited} with a limit of 8");
}

// ---------------------------------------------------------------- cache

#[test]
fn a_second_identical_call_is_a_cache_hit() {
    let server = fake();
    let dir = TempDir::new("hit");
    let client = cached_client(&server, dir.path(), CacheMode::ReadWrite);
    let first = client.chat(&request("b")).unwrap();
    let second = client.chat(&request("b")).unwrap();
    assert!(!first.cached && second.cached);
    assert_eq!(first.response, second.response);
    assert_eq!((second.attempts, second.latency, second.cost), (0, Duration::ZERO, 0.0));
    assert_eq!(server.request_count(), 1);
    let ledger = client.ledger();
    assert_eq!((ledger.calls, ledger.cache_hits, ledger.attempts), (2, 1, 1));

    // The entry sits at dir/ab/abcdef….json and holds the request for inspection.
    let key = ResponseCache::chat_key(client.identity(), &request("b"));
    assert_eq!(key.len(), 64);
    let path = dir.path().join(&key[..2]).join(format!("{key}.json"));
    let entry: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(entry["subject"]["request"]["messages"][1]["content"], "b");
    assert_eq!(entry["response"]["content"], "B");

    // Another client (another run) on the same directory hits too.
    let again = cached_client(&server, dir.path(), CacheMode::ReadWrite).chat(&request("b")).unwrap();
    assert!(again.cached);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn anything_that_changes_the_answer_changes_the_key() {
    let server = fake();
    let dir = TempDir::new("keys");
    let client = cached_client(&server, dir.path(), CacheMode::ReadWrite);
    let base = request("b");
    let variants = [
        base.clone(),
        ChatRequest { seed: Some(8), ..base.clone() },
        ChatRequest { seed: None, ..base.clone() },
        ChatRequest { temperature: 0.5, ..base.clone() },
        ChatRequest { max_tokens: 17, ..base.clone() },
        ChatRequest { messages: vec![Message::user("b")], ..base.clone() },
        ChatRequest { choices: Some(vec!["a".into(), "b".into()]), ..base.clone() },
        ChatRequest { choices: Some(vec!["b".into(), "a".into()]), ..base.clone() },
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert!(!client.chat(variant).unwrap().cached, "variant {i} hit");
        assert_eq!(server.request_count(), i + 1);
    }
    for variant in &variants {
        assert!(client.chat(variant).unwrap().cached);
    }
    // Another identity (structured mode, model) misses too.
    for changed in [
        OpenAiConfig { structured: Structured::Grammar, ..config(&server) },
        OpenAiConfig { model: "other".into(), ..config(&server) },
    ] {
        let other = Client::new(
            provider(changed),
            ClientOptions { cache: Some((dir.path().to_path_buf(), CacheMode::ReadWrite)), ..options() },
        )
        .unwrap();
        assert!(!other.chat(&base).unwrap().cached);
    }
    // So is the base URL: llama-server ignores the model name, so one name at two addresses
    // may be two models.
    let elsewhere = fake();
    let moved = cached_client(&elsewhere, dir.path(), CacheMode::ReadWrite);
    assert!(!moved.chat(&base).unwrap().cached);
    assert_eq!(elsewhere.request_count(), 1);
}

#[test]
fn replay_mode_answers_hits_and_refuses_misses() {
    let server = fake();
    let dir = TempDir::new("replay");
    cached_client(&server, dir.path(), CacheMode::ReadWrite).chat(&request("b")).unwrap();
    let replay = cached_client(&server, dir.path(), CacheMode::ReadOnly);
    assert!(replay.chat(&request("b")).unwrap().cached);
    let error = replay.chat(&request("c")).unwrap_err();
    let key = ResponseCache::chat_key(replay.identity(), &request("c"));
    assert!(matches!(&error, ClientError::Cache(CacheError::NotCached { key: k, .. }) if *k == key), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&key) && text.contains("not fully cached"), "{text}");
    assert_eq!(server.request_count(), 1, "replay never calls the provider");
    assert!(!dir.path().join(&key[..2]).join(format!("{key}.json")).exists(), "replay writes nothing");

    let missing = dir.path().join("nothing-here");
    let error = Client::new(
        provider(config(&server)),
        ClientOptions { cache: Some((missing, CacheMode::ReadOnly)), ..options() },
    )
    .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[test]
fn a_corrupt_entry_is_a_counted_miss_and_gets_rewritten() {
    let server = fake();
    let dir = TempDir::new("corrupt");
    let client = cached_client(&server, dir.path(), CacheMode::ReadWrite);
    client.chat(&request("b")).unwrap();
    let path = client.cache().unwrap().path_of(&ResponseCache::chat_key(client.identity(), &request("b")));
    for junk in [&b"{\"format\": 1, \"subj"[..], b"", b"{\"format\": 1, \"subject\": 3, \"response\": {}}"] {
        std::fs::write(&path, junk).unwrap();
        let reply = client.chat(&request("b")).unwrap();
        assert!(!reply.cached);
        assert_eq!(reply.response.content, "B");
        assert!(client.chat(&request("b")).unwrap().cached, "the entry was rewritten");
    }
    assert_eq!(client.ledger().cache_corrupt, 3);
    assert_eq!(server.request_count(), 4);
}

#[test]
fn concurrent_identical_calls_never_corrupt_the_cache() {
    let server = fake();
    server.set_latency(Duration::from_millis(20));
    let dir = TempDir::new("race");
    let client = Client::new(
        provider(config(&server)),
        ClientOptions {
            cache: Some((dir.path().to_path_buf(), CacheMode::ReadWrite)),
            max_concurrency: 8,
            ..options()
        },
    )
    .unwrap();
    let start = Barrier::new(8);
    let contents: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    (0..5).map(|_| client.chat(&request("same b")).unwrap().response.content).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(contents.iter().all(|c| c == "B"), "{contents:?}");
    assert_eq!(client.ledger().cache_corrupt, 0);
    // Exactly one entry, whole, and no temporary files left behind.
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .flat_map(|sub| std::fs::read_dir(sub.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let replay = cached_client(&server, dir.path(), CacheMode::ReadOnly);
    assert_eq!(replay.chat(&request("same b")).unwrap().response.content, "B");
}

// ---------------------------------------------------------------- score

/// A provider that scores candidates by length after failing transiently a scripted number of
/// times, and refuses to chat.
struct Scorer {
    failures_left: AtomicU32,
    calls: AtomicU32,
}

impl Provider for Scorer {
    fn identity(&self) -> String {
        "test:scorer".into()
    }

    fn chat(&self, _: &ChatRequest) -> Result<armada_llm::chat::ChatResponse, ProviderError> {
        Err(ProviderError::Fatal("this test provider cannot chat".into()))
    }

    fn score(&self, _: &[Message], candidates: &[String]) -> Option<Result<Vec<f64>, ProviderError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failures_left.load(Ordering::SeqCst) > 0 {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
            return Some(Err(ProviderError::Transient("busy".into())));
        }
        Some(Ok(candidates.iter().map(|c| if c.is_empty() { f64::NEG_INFINITY } else { -(c.len() as f64) }).collect()))
    }
}

#[test]
fn scores_are_retried_and_cached() {
    let dir = TempDir::new("score");
    let scorer = Arc::new(Scorer { failures_left: AtomicU32::new(2), calls: AtomicU32::new(0) });
    let client = Client::new(
        scorer.clone(),
        ClientOptions { cache: Some((dir.path().to_path_buf(), CacheMode::ReadWrite)), ..options() },
    )
    .unwrap();
    let messages = [Message::user("pick")];
    let candidates = vec!["ab".to_string(), "".to_string()];
    let first = client.score(&messages, &candidates).unwrap().unwrap();
    assert_eq!(first.scores, vec![-2.0, f64::NEG_INFINITY]);
    assert_eq!((first.cached, first.attempts), (false, 3));
    let second = client.score(&messages, &candidates).unwrap().unwrap();
    assert_eq!(second.scores, first.scores);
    assert!(second.cached);
    assert_eq!(scorer.calls.load(Ordering::SeqCst), 3);
    let ledger = client.ledger();
    assert_eq!((ledger.calls, ledger.cache_hits, ledger.transient.other), (2, 1, 2));

    // Scores and chats live in separate namespaces; a chat with the same messages misses.
    let chat = ChatRequest { messages: messages.to_vec(), temperature: 0.0, max_tokens: 1, seed: None, choices: None };
    assert!(matches!(client.chat(&chat), Err(ClientError::Fatal { attempts: 1, .. })));
}

#[test]
fn score_is_none_when_the_provider_cannot_score() {
    let server = fake();
    let client = client(&server);
    assert!(client.score(&[Message::user("x")], &["a".to_string()]).is_none());
    assert_eq!(client.ledger().calls, 0);
}
