//! A scripted OpenAI-compatible server on 127.0.0.1 for fault-injection tests.
//!
//! [`FakeServer`] speaks just enough HTTP/1.1 (one request per connection, `Connection: close`)
//! to stand in for llama.cpp, vLLM or OpenAI in tests: `POST /v1/chat/completions` answers with
//! a well-formed completion whose content comes from a closure, unless a scripted [`Fault`] is
//! due (an error status, a garbage or truncated body, a hang, a body dribbled slower than any
//! sane timeout). `GET /health` answers 200. It is for this crate's tests and the CLI's tests;
//! it is not a model server and not meant to face anything but a test on the same machine.
//!
//! Every socket has a timeout and every wait polls a shutdown flag, so dropping the server
//! stops all its threads within a few tens of milliseconds, whatever the clients are doing.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How often waiting threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(10);
/// How long a connection may take to deliver its request before the server gives up on it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Largest request head and body the server reads.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One misbehaviour, consumed by one chat request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and an OpenAI-style error body
    /// (`{"error": {"message", "type", "code"}}`). A 429 carries `Retry-After: 0`.
    Status(u16),
    /// Answer 429 with `Retry-After` (whole seconds, rounded up) and `retry-after-ms` set to
    /// this delay, as OpenAI does.
    RateLimited(Duration),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with a `Content-Length` that promises the whole completion, send half of it,
    /// and close the connection.
    Truncated,
    /// Read the request, say nothing for this long, then close the connection.
    Hang(Duration),
    /// Send the headers of a normal answer, then the body one byte per this interval.
    SlowBody(Duration),
    /// Answer 200 with exactly this JSON body (to script unusual completions: reasoning
    /// content, null content, no choices…).
    Reply(Value),
}

/// A scripted OpenAI-compatible HTTP server on `127.0.0.1`, on a port the OS chose.
///
/// Dropping it shuts it down and joins its threads.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// An answer function: the completion's content for a request body.
type Answer = Box<dyn Fn(&Value) -> String + Send + Sync>;

struct Shared {
    answer: Answer,
    state: Mutex<State>,
    shutdown: AtomicBool,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    served: AtomicUsize,
}

#[derive(Default)]
struct State {
    script: VecDeque<Fault>,
    fail_all: Option<Fault>,
    latency: Duration,
    requests: Vec<Value>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration`, or less if the server shuts down meanwhile. Returns false when it
    /// was cut short.
    fn pause(&self, duration: Duration) -> bool {
        let end = Instant::now() + duration;
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(POLL));
        }
    }
}

impl FakeServer {
    /// Starts a server whose normal answer to a chat request is `answer(request body)`.
    ///
    /// # Panics
    /// When no port on 127.0.0.1 can be bound (a test environment problem, not user input).
    pub fn start(answer: impl Fn(&Value) -> String + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
        let addr = listener.local_addr().expect("local address of a bound listener");
        let shared = Arc::new(Shared {
            answer: Box::new(answer),
            state: Mutex::new(State::default()),
            shutdown: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-server-accept".into())
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the accept thread")
        };
        FakeServer { addr, shared, acceptor: Some(acceptor) }
    }

    /// The base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:41234/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues faults, consumed one per chat request in order; normal answers resume after.
    pub fn script(&self, faults: Vec<Fault>) {
        self.shared.state().script.extend(faults);
    }

    /// With `Some(fault)`, every chat request meets that fault (taking precedence over the
    /// script, which is left untouched); `None` returns to normal service.
    pub fn fail_all(&self, fault: Option<Fault>) {
        self.shared.state().fail_all = fault;
    }

    /// Makes every normal answer wait this long before it is sent (to observe concurrency).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// How many chat requests arrived (whether answered normally or with a fault).
    pub fn request_count(&self) -> usize {
        self.shared.state().requests.len()
    }

    /// The bodies of the chat requests received, in order of arrival (a body that was not JSON
    /// is logged as a JSON string of its text).
    pub fn requests(&self) -> Vec<Value> {
        self.shared.state().requests.clone()
    }

    /// The most chat requests ever being handled at the same time.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
    }

    /// How many chat requests were answered normally (not by a fault); counted just before the
    /// answer is written.
    pub fn served(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            break;
        }
        workers.retain(|worker| !worker.is_finished());
        match accepted {
            Ok((stream, _)) => {
                let shared = Arc::clone(&shared);
                let spawned =
                    std::thread::Builder::new().name("fake-server-conn".into()).spawn(move || serve(stream, &shared));
                if let Ok(worker) = spawned {
                    workers.push(worker);
                }
            }
            // Out of file descriptors or an aborted handshake: wait a little and go on.
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// A parsed request: method, path, body.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_nodelay(true);
    let request = match read_request(&mut stream, shared) {
        Ok(request) => request,
        Err(Some(status)) => {
            let body = error_body(status, "malformed request");
            write_response(&mut stream, status, &[], body.as_bytes());
            return;
        }
        Err(None) => return,
    };
    let path = request.path.split('?').next().unwrap_or("");
    match (request.method.as_str(), path) {
        ("GET", "/health") => {
            write_response(&mut stream, 200, &[], br#"{"status":"ok"}"#);
        }
        ("POST", "/v1/chat/completions") => {
            let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            shared.peak_in_flight.fetch_max(now, Ordering::SeqCst);
            chat(&mut stream, shared, &request.body);
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        _ => {
            let body = error_body(404, &format!("no route for {} {}", request.method, request.path));
            write_response(&mut stream, 404, &[], body.as_bytes());
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads one request. `Err(Some(status))` asks for an error answer, `Err(None)` to hang up.
fn read_request(stream: &mut TcpStream, shared: &Shared) -> Result<Request, Option<u16>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(Some(431));
        }
        read_some(stream, &mut buf, shared, deadline)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or("").split_whitespace();
    let method = start.next().unwrap_or("").to_string();
    let path = start.next().unwrap_or("").to_string();
    if method.is_empty() || path.is_empty() {
        return Err(Some(400));
    }
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if name == "content-length" {
            length = value.parse().map_err(|_| Some(400))?;
        } else if name == "transfer-encoding" && !value.eq_ignore_ascii_case("identity") {
            return Err(Some(411));
        }
    }
    if length > MAX_BODY {
        return Err(Some(413));
    }
    while buf.len() < head_end + length {
        read_some(stream, &mut buf, shared, deadline)?;
    }
    let body = buf[head_end..head_end + length].to_vec();
    Ok(Request { method, path, body })
}

/// Appends what the socket has to `buf`, waiting (in slices, watching for shutdown) until
/// something arrives. Hangs up on end of stream, error, shutdown or deadline.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared, deadline: Instant) -> Result<(), Option<u16>> {
    let mut chunk = [0u8; 8192];
    loop {
        if shared.stopping() || Instant::now() >= deadline {
            return Err(None);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(None),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => return Err(None),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Answers one chat request: the next fault if one is due, else a completion.
fn chat(stream: &mut TcpStream, shared: &Shared, raw: &[u8]) {
    let parsed: Result<Value, _> = serde_json::from_slice(raw);
    let (fault, latency) = {
        let mut state = shared.state();
        state.requests.push(match &parsed {
            Ok(body) => body.clone(),
            Err(_) => Value::String(String::from_utf8_lossy(raw).into_owned()),
        });
        let fault = match state.fail_all.clone() {
            Some(fault) => Some(fault),
            None => state.script.pop_front(),
        };
        (fault, state.latency)
    };
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            let error = error_body(400, &format!("request body is not JSON: {e}"));
            write_response(stream, 400, &[], error.as_bytes());
            return;
        }
    };
    match fault {
        None => {
            if !shared.pause(latency) {
                return;
            }
            let completion = completion(&body, &(shared.answer)(&body));
            // Counted before the bytes go out: a client that has its answer must see the count.
            shared.served.fetch_add(1, Ordering::SeqCst);
            write_response(stream, 200, &[], completion.as_bytes());
        }
        Some(Fault::Status(status)) => {
            let headers: &[(&str, String)] = if status == 429 { &[("Retry-After", String::from("0"))] } else { &[] };
            let message = match status {
                400 => "Invalid request: the fake server was told to refuse this one",
                401 => "Incorrect API key provided",
                403 => "You are not allowed to use this model",
                404 => "The model does not exist",
                429 => "Rate limit reached; please retry",
                500..=599 => "The server had an error while processing your request",
                _ => "Scripted failure",
            };
            write_response(stream, status, headers, error_body(status, message).as_bytes());
        }
        Some(Fault::RateLimited(delay)) => {
            let seconds = delay.as_millis().div_ceil(1000);
            let headers = [("Retry-After", seconds.to_string()), ("retry-after-ms", delay.as_millis().to_string())];
            write_response(stream, 429, &headers, error_body(429, "Rate limit reached; please retry").as_bytes());
        }
        Some(Fault::Garbage) => {
            write_response(stream, 200, &[], b"<html><body>502 Bad Gateway (not JSON)</body></html>");
        }
        Some(Fault::Truncated) => {
            let completion = completion(&body, &(shared.answer)(&body));
            let bytes = completion.as_bytes();
            let head = response_head(200, &[], bytes.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes[..bytes.len() / 2]);
            let _ = stream.flush();
        }
        Some(Fault::Hang(duration)) => {
            shared.pause(duration);
        }
        Some(Fault::SlowBody(interval)) => {
            let completion = completion(&body, &(shared.answer)(&body));
            let bytes = completion.as_bytes();
            let head = response_head(200, &[], bytes.len());
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            for byte in bytes {
                if !shared.pause(interval) || stream.write_all(std::slice::from_ref(byte)).is_err() {
                    return;
                }
            }
        }
        Some(Fault::Reply(reply)) => {
            write_response(stream, 200, &[], reply.to_string().as_bytes());
        }
    }
}

/// A well-formed completion answering `request` with `content`; token counts are word counts.
fn completion(request: &Value, content: &str) -> String {
    let prompt_tokens: usize = request["messages"]
        .as_array()
        .map(|messages| {
            messages.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count() + 1).sum()
        })
        .unwrap_or(0);
    let completion_tokens = content.split_whitespace().count().max(1);
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
    .to_string()
}

fn error_body(status: u16, message: &str) -> String {
    let kind = match status {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    };
    json!({"error": {"message": message, "type": kind, "code": status}}).to_string()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn response_head(status: u16, headers: &[(&str, String)], length: usize) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n",
        reason(status)
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Writes a whole response; a client that hung up is not an error worth reporting.
fn write_response(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let head = response_head(status, headers, body.len());
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).and_then(|()| stream.flush());
}
