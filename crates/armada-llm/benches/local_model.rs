//! Latency of the in-process local model (SmolLM2-135M-Instruct, Q4_1): load time, prompt and
//! generation throughput, and a typical agent step (≈260 prompt tokens, 5 arm names) answered
//! by free generation, constrained choice and scoring, cold and with a reused prefix, alone and
//! with a second agent running in parallel.
//!
//! `cargo bench -p armada-llm --bench local_model` (needs `scripts/fetch-smollm2.sh` first).
//! Plain `main` (harness = false): medians of a few repetitions, printed as a table. Times are
//! wall-clock; on a busy machine the CPU time of the calling thread is printed too.

use armada_llm::chat::{ChatRequest, Message, Provider};
use armada_llm::local::{LocalProvider, default_model_path};
use std::time::{Duration, Instant};

const REPS: usize = 3;
const NAMES: [&str; 5] = ["amber", "birch", "cedar", "delta", "ember"];

/// CPU time of the calling thread (Linux), to tell work from waiting on a busy machine.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let out = f();
    (out, wall.elapsed(), thread_cpu().saturating_sub(cpu))
}

fn median(mut xs: Vec<Duration>) -> f64 {
    xs.sort();
    xs[xs.len() / 2].as_secs_f64()
}

/// A system prompt like an agent's (≈200 tokens); `tag` makes its first tokens unique.
fn system(tag: usize) -> String {
    format!(
        "Session {tag}. You are playing a multi-armed bandit game. There are five slot machines, named \
         amber, birch, cedar, delta and ember. Each round you pick exactly one machine and receive a \
         reward of 0 or 1. Each machine pays 1 with a fixed probability that you do not know. Your \
         goal is to collect as much reward as possible over 100 rounds, which means you must balance \
         exploring machines you know little about against exploiting the machine that has paid best \
         so far. After each round you are told the reward. A summary of the history so far is given \
         in the user message: for each machine, how many times it was pulled and its average reward. \
         Answer with the name of one machine only, in lower case, with no other words, no \
         punctuation and no explanation."
    )
}

fn user(round: usize) -> String {
    format!(
        "Round {round} of 100. History: amber pulled 4 times, average 0.50; birch pulled 3 times, \
         average 0.33; cedar pulled 5 times, average 0.60; delta pulled 2 times, average 0.00; \
         ember pulled 3 times, average 0.67. Which machine do you pick?"
    )
}

fn messages(tag: usize, round: usize) -> Vec<Message> {
    vec![Message::system(system(tag)), Message::user(user(round))]
}

/// One agent step of each kind; returns a short description of the answer.
fn step(provider: &LocalProvider, kind: &str, m: Vec<Message>) -> String {
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let free = ChatRequest { messages: m, temperature: 0.0, max_tokens: 16, seed: Some(1), choices: None };
    match kind {
        "free ≤16" => provider.chat(&free).unwrap().content,
        "constrained" => provider.chat(&ChatRequest { choices: Some(names), ..free }).unwrap().content,
        _ => {
            let s = provider.score(&free.messages, &names).unwrap().unwrap();
            format!("{:?}", s.iter().map(|x| (x * 10.0).round() / 10.0).collect::<Vec<_>>())
        }
    }
}

fn main() {
    let path = default_model_path();
    let (provider, load, _) = timed(|| LocalProvider::load(&path));
    let provider = provider.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    println!("model            {}", provider.identity());
    println!("load             {:.3} s", load.as_secs_f64());

    let prompt = provider.prompt_tokens(&messages(0, 1));
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        let mut session = provider.new_session();
        let (_, wall, cpu) = timed(|| provider.next_token_logits(&mut session, &prompt).unwrap());
        walls.push(wall);
        cpus.push(cpu);
    }
    let n = prompt.len() as f64;
    println!(
        "prompt           {:.0} tokens/s ({} tokens in {:.3} s; {:.0} tokens per CPU-second)",
        n / median(walls.clone()),
        prompt.len(),
        median(walls),
        n / median(cpus)
    );

    // Generation: the same prompt again reuses all but its last token.
    let story = vec![Message::user("Write a long story about a dragon who learns to cook.")];
    let request = |max_tokens| ChatRequest {
        messages: story.clone(),
        temperature: 0.0,
        max_tokens,
        seed: Some(1),
        choices: None,
    };
    provider.chat(&request(1)).unwrap();
    let (r, wall, cpu) = timed(|| provider.chat(&request(128)).unwrap());
    let n = r.completion_tokens as f64;
    println!(
        "generation       {:.0} tokens/s ({} tokens in {:.3} s; {:.0} tokens per CPU-second)",
        n / wall.as_secs_f64(),
        r.completion_tokens,
        wall.as_secs_f64(),
        n / cpu.as_secs_f64()
    );

    println!("agent step ({} prompt tokens, {} names): median wall time", prompt.len(), NAMES.len());
    let mut tag = 100;
    for kind in ["free ≤16", "constrained", "score ×5"] {
        // Cold: a prompt sharing nothing but the template's first tokens with the pool.
        let cold: Vec<Duration> = (0..REPS)
            .map(|_| {
                tag += 1;
                timed(|| step(&provider, kind, messages(tag, 1))).1
            })
            .collect();
        // Warm: the same system prompt as the previous call, the next round.
        tag += 1;
        step(&provider, kind, messages(tag, 1));
        let mut answer = String::new();
        let warm: Vec<Duration> = (2..2 + REPS)
            .map(|round| {
                let (a, wall, _) = timed(|| step(&provider, kind, messages(tag, round)));
                answer = a;
                wall
            })
            .collect();
        println!("  {kind:<14} cold {:.3} s   reused prefix {:.3} s   answer {answer}", median(cold), median(warm));
    }

    // Two agents at once, each with its own system prompt, as the harness runs them.
    let (_, wall, _) = timed(|| {
        std::thread::scope(|s| {
            for agent in 0..2 {
                let provider = &provider;
                s.spawn(move || {
                    for round in 1..=REPS + 1 {
                        step(provider, "constrained", messages(1000 + agent, round));
                    }
                });
            }
        })
    });
    println!(
        "two agents in parallel, constrained, {} steps each: {:.3} s per step per agent",
        REPS + 1,
        wall.as_secs_f64() / (REPS + 1) as f64
    );
}
