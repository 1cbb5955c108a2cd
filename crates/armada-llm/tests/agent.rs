//! The LLM agent end to end through the core harness, against the scripted OpenAI-compatible
//! server on 127.0.0.1: decisions, invalid answers and their fallbacks, re-asks, the response
//! cache, and faults that must not change results.

use armada::harness::{RunRecord, run_experiment};
use armada::spec::parse_spec_with;
use armada_llm::config::LlmAgents;
use armada_llm::fake_server::{FakeServer, Fault};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh cache directory per call.
fn cache_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "armada-agent-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The names offered in the last user message: the bracketed list after "name from".
fn offered(request: &Value) -> Vec<String> {
    let messages = request["messages"].as_array().expect("messages");
    let last = messages.iter().rev().find(|m| m["role"] == "user").expect("a user message");
    let text = last["content"].as_str().unwrap_or_default();
    let start = text.rfind("name from [").map(|i| i + "name from [".len()).expect("a name list");
    let end = start + text[start..].find(']').expect("closing bracket");
    text[start..end].split(", ").map(str::to_string).collect()
}

fn spec(server: &FakeServer, cache: &std::path::Path, env: &str, extra: &str, horizon: u64, seeds: u64) -> String {
    format!(
        r#"
name = "agent-test"
horizon = {horizon}
seeds = {seeds}
seed = 7
checkpoints = 3
[[env]]
{env}
[[policy]]
name = "ucb"
[[policy]]
name = "llm"
provider = "openai"
model = "scripted"
base_url = "{url}"
cache = "{cache}"
concurrency = 2
retries = 6
{extra}
"#,
        url = server.url(),
        cache = cache.display()
    )
}

const BERNOULLI: &str = "kind = \"bernoulli\"\nmeans = [0.2, 0.5, 0.8]";

fn run(text: &str) -> Vec<RunRecord> {
    let exp = parse_spec_with(text, "test", Some(&LlmAgents)).expect("valid spec");
    run_experiment(&exp, &|_| {})
}

fn llm_runs(recs: &[RunRecord]) -> Vec<&RunRecord> {
    recs.iter().filter(|r| r.agent.is_some()).collect()
}

#[test]
fn an_agent_that_always_names_the_first_arm_pays_its_gap() {
    let server = FakeServer::start(|req| offered(req)[0].clone());
    let recs = run(&spec(&server, &cache_dir("first"), BERNOULLI, "", 20, 3));
    for r in llm_runs(&recs) {
        assert_eq!(r.failure, None);
        // The names list follows arm order, so the first name is arm 0 (mean 0.2, gap 0.6).
        assert!((r.final_regret() - 20.0 * 0.6).abs() < 1e-9, "{}", r.final_regret());
        let s = r.agent.as_ref().unwrap();
        assert_eq!((s.decisions, s.calls, s.invalid_answers, s.fallbacks), (20, 20, 0, 0));
        assert!(s.prompt_tokens > 0 && s.max_prompt_chars > 0);
    }
    assert_eq!(server.request_count(), 60);
}

#[test]
fn invalid_answers_are_counted_and_fall_back_without_touching_rewards() {
    // Flat Gaussian arms: every arm pays 0 + z_t, so with common random numbers any policy's
    // total reward is Σ z_t, whatever it chooses, as long as the fallback never draws from the
    // reward stream.
    let server = FakeServer::start(|_| "I am not sure, perhaps the red one?".to_string());
    let flat = "kind = \"gaussian\"\nmeans = [0.0, 0.0, 0.0, 0.0]\nsigma = 1.0";
    let recs = run(&spec(&server, &cache_dir("invalid"), flat, "reasks = 1", 15, 4));
    for r in llm_runs(&recs) {
        let s = r.agent.as_ref().unwrap();
        assert_eq!((s.decisions, s.invalid_decisions, s.invalid_answers, s.reasks), (15, 15, 30, 15));
        assert_eq!((s.fallbacks, s.forfeits, s.calls), (15, 0, 30));
        let twin = recs.iter().find(|o| o.agent.is_none() && o.id.seed_index == r.id.seed_index).unwrap();
        assert_eq!(r.reward.to_bits(), twin.reward.to_bits());
        // Random fallbacks spread over the arms.
        assert!(r.pulls_by_rank.iter().filter(|&&n| n > 0).count() >= 2);
    }
}

#[test]
fn forfeited_steps_pay_the_forfeit_reward_and_the_best_arm_as_regret() {
    let server = FakeServer::start(|_| "no idea".to_string());
    let recs = run(&spec(&server, &cache_dir("forfeit"), BERNOULLI, "fallback = \"forfeit\"", 10, 2));
    for r in llm_runs(&recs) {
        let s = r.agent.as_ref().unwrap();
        assert_eq!((s.forfeits, s.fallbacks), (10, 0));
        assert_eq!(r.reward, 0.0);
        assert!((r.final_regret() - 10.0 * 0.8).abs() < 1e-9);
        assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), 0);
    }
}

#[test]
fn a_reask_that_succeeds_avoids_the_fallback() {
    // First answers are garbage, answers to a re-ask (a conversation with an assistant turn)
    // name the last arm.
    let server = FakeServer::start(|req| {
        let turns = req["messages"].as_array().map_or(0, Vec::len);
        if turns > 2 { offered(req).last().cloned().unwrap() } else { "hmm".to_string() }
    });
    let recs = run(&spec(&server, &cache_dir("reask"), BERNOULLI, "reasks = 2", 8, 2));
    for r in llm_runs(&recs) {
        let s = r.agent.as_ref().unwrap();
        assert_eq!((s.invalid_decisions, s.invalid_answers, s.reasks, s.fallbacks), (8, 8, 8, 0));
        // The last arm is the best (0.8): no regret.
        assert_eq!(r.final_regret(), 0.0);
    }
}

#[test]
fn a_second_run_is_answered_from_the_cache_with_identical_results() {
    let server = FakeServer::start(|req| offered(req)[1].clone());
    let cache = cache_dir("cache");
    let text = spec(&server, &cache, BERNOULLI, "temperature = 0.7", 12, 3);
    let first = run(&text);
    let calls = server.request_count();
    assert_eq!(calls, 36);
    let second = run(&text);
    assert_eq!(server.request_count(), calls, "a cached run must not call the server");
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.regret, b.regret);
        if let (Some(x), Some(y)) = (&a.agent, &b.agent) {
            assert_eq!(y.cache_hits, y.calls);
            assert_eq!((x.prompt_tokens, x.completion_tokens), (y.prompt_tokens, y.completion_tokens));
        }
    }
    // Replay mode answers from the cache alone, and refuses what is not there.
    let replay = text.replace("retries = 6", "retries = 6\ncache_mode = \"read-only\"");
    let third = run(&replay);
    assert_eq!(server.request_count(), calls);
    assert_eq!(
        third.iter().map(|r| r.regret.clone()).collect::<Vec<_>>(),
        first.iter().map(|r| r.regret.clone()).collect::<Vec<_>>()
    );
    // A fourth seed was never run: its agent fails at its first call; the cached seeds pass.
    let more = run(&replay.replace("seeds = 3", "seeds = 4"));
    let failed: Vec<&RunRecord> = more.iter().filter(|r| r.failure.is_some()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id.seed_index, 3);
    assert!(failed[0].failure.as_ref().unwrap().contains("step 0"), "{:?}", failed[0].failure);
}

#[test]
fn faults_are_retried_and_change_nothing() {
    let answer = |req: &Value| offered(req)[2].clone();
    let clean_server = FakeServer::start(answer);
    let clean = run(&spec(&clean_server, &cache_dir("clean"), BERNOULLI, "", 6, 2));
    let server = FakeServer::start(answer);
    server.script(vec![
        Fault::Status(429),
        Fault::Status(500),
        Fault::Garbage,
        Fault::Truncated,
        Fault::Status(503),
        Fault::Hang(std::time::Duration::from_millis(300)),
    ]);
    let text = spec(&server, &cache_dir("faulty"), BERNOULLI, "timeout = 0.2", 6, 2);
    let faulty = run(&text);
    let retries: u64 = faulty.iter().filter_map(|r| r.agent.as_ref()).map(|s| s.retries).sum();
    assert_eq!(retries, 6, "every fault costs one retry");
    for (a, b) in clean.iter().zip(&faulty) {
        assert_eq!(b.failure, None);
        assert_eq!(a.regret, b.regret);
        assert_eq!(a.reward, b.reward);
    }
}

#[test]
fn a_server_that_stays_down_fails_the_run_with_the_reason() {
    let server = FakeServer::start(|req| offered(req)[0].clone());
    server.fail_all(Some(Fault::Status(401)));
    let recs = run(&spec(&server, &cache_dir("down"), BERNOULLI, "", 5, 1));
    let r = llm_runs(&recs)[0];
    let why = r.failure.as_ref().expect("a failure");
    assert!(why.contains("step 0") && why.contains("401"), "{why}");
}

#[test]
fn spec_errors_name_the_key() {
    let server = FakeServer::start(|_| String::new());
    let cache = cache_dir("spec");
    for (extra, field, needle) in [
        ("layer = \"tree\"", "policy[1].layer", "raw, summary, guided"),
        ("temperature = -1", "policy[1].temperature", ">= 0"),
        ("guide = \"ucb\"", "policy[1].guide", "guided"),
        ("history = 5", "policy[1].history", "raw"),
        ("decide = \"likelihood\"", "policy[1].decide", "local"),
        ("scenario = \"nowhere.toml\"", "policy[1].scenario", "cannot read"),
        ("colour = 1", "policy[1].colour", "unknown key"),
        ("demos = \"oracle\"", "policy[1].demos", "unknown policy"),
        ("fallback = \"forfeit\"\nforfeit_reward = \"x\"", "policy[1].forfeit_reward", "number"),
    ] {
        let e = parse_spec_with(&spec(&server, &cache, BERNOULLI, extra, 5, 1), "t", Some(&LlmAgents)).unwrap_err();
        assert_eq!(e.field, field, "{extra}: {e}");
        assert!(e.message.contains(needle), "{extra}: {e}");
    }
    let many = "kind = \"bernoulli\"\nmeans = [".to_string() + &vec!["0.5"; 120].join(", ") + "]";
    let e = parse_spec_with(&spec(&server, &cache, &many, "", 5, 1), "t", Some(&LlmAgents)).unwrap_err();
    assert!(e.message.contains("names but the environment has 120 arms"), "{e}");
    // Without the agent parser, `llm` is an unknown policy.
    assert!(parse_spec_with(&spec(&server, &cache, BERNOULLI, "", 5, 1), "t", None).is_err());
}

#[test]
fn specs_round_trip_through_spec_toml() {
    let server = FakeServer::start(|_| String::new());
    let text =
        spec(&server, &cache_dir("toml"), BERNOULLI, "layer = \"guided\"\nguide = \"thompson\"\ndemos = \"ucb\"", 5, 1);
    let exp = parse_spec_with(&text, "t", Some(&LlmAgents)).unwrap();
    let again = parse_spec_with(&armada::spec::to_toml(&exp), "t", Some(&LlmAgents)).unwrap();
    assert_eq!(armada::spec::to_toml(&exp), armada::spec::to_toml(&again));
    assert_eq!(exp.policies[1].identity(), again.policies[1].identity());
    assert!(
        exp.policies[1].identity().contains("guide=thompson") && exp.policies[1].identity().contains("demos=ucbx5")
    );
}

#[test]
fn demonstrations_show_a_teachers_decisions_in_the_instruction() {
    let server = FakeServer::start(|req| offered(req)[0].clone());
    let recs = run(&spec(&server, &cache_dir("demos"), BERNOULLI, "demos = \"ucb\"\ndemo_count = 3", 4, 1));
    assert!(llm_runs(&recs).iter().all(|r| r.failure.is_none()));
    let first = &server.requests()[0];
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert_eq!(system.matches("--- Example ").count(), 3, "{system}");
    // UCB's steps 2, 4, 6: histories of 2, 4 and 6 rounds.
    assert!(system.contains("2 rounds have been played so far") && system.contains("6 rounds have been played so far"));
    assert!(system.contains("Good answer: "));
    // A whole short trajectory on an easy instance: steps 0, 1, 2.
    let before = server.request_count();
    let extra = "demos = \"ucb\"\ndemo_count = 3\ndemo_steps = \"trajectory\"\ndemo_env = \"bernoulli-easy\"";
    let recs = run(&spec(&server, &cache_dir("demos2"), BERNOULLI, extra, 2, 1));
    assert!(llm_runs(&recs).iter().all(|r| r.failure.is_none()));
    let system = server.requests()[before]["messages"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(system.matches("--- Example ").count(), 3, "{system}");
    assert!(system.contains("This is the first round") && system.contains("2 rounds have been played so far"));
    assert!(!system.contains("3 rounds have been played so far"));
    // Demonstrations in another layer than the agent's: a raw-history agent shown guided examples.
    let before = server.request_count();
    let extra2 = "layer = \"raw\"\ndemos = \"ucb\"\ndemo_count = 2\ndemo_layer = \"guided\"";
    run(&spec(&server, &cache_dir("demos3"), BERNOULLI, extra2, 2, 1));
    let system = server.requests()[before]["messages"][0]["content"].as_str().unwrap().to_string();
    assert_eq!(system.matches("UCB says: exploitation value").count(), 2 * 3, "{system}");
    let linear = "kind = \"linear\"\narms = 3\nfeatures = 2";
    let e = parse_spec_with(&spec(&server, &cache_dir("d3"), linear, extra, 2, 1), "t", Some(&LlmAgents)).unwrap_err();
    assert!(e.message.contains("demo_env"), "{e}");
}

#[test]
fn fine_tuning_prompts_are_byte_identical_to_what_the_agent_sends() {
    // Export UCB's decisions with the agent's prompts, then let the agent play against a server
    // that answers only prompts found verbatim in the export (with UCB's answer). If a single
    // prompt differed by one byte the answer would be invalid and the runs would part ways.
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let table: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let lookup = table.clone();
    let server = FakeServer::start(move |req| {
        lookup.lock().unwrap().get(&req["messages"].to_string()).cloned().unwrap_or_else(|| "MISSING".into())
    });
    let cache = cache_dir("distill");
    for layer in ["layer = \"raw\"", "layer = \"guided\"\nguide = \"kl-ucb\"\ndemos = \"thompson\""] {
        let exp = parse_spec_with(&spec(&server, &cache, BERNOULLI, layer, 15, 3), "t", Some(&LlmAgents)).unwrap();
        let ucb = armada::policy::PolicySpec::with_defaults(armada::policy::find_policy("ucb").unwrap());
        let decided = armada_llm::demos::export(&exp, &ucb, 1).unwrap();
        assert_eq!(decided.len(), 45);
        for d in &decided {
            let key = serde_json::to_value(&d.messages).unwrap().to_string();
            table.lock().unwrap().insert(key, d.names[d.arm].clone());
        }
        let sft = armada_llm::demos::sft_jsonl(&decided);
        assert_eq!(sft.lines().count(), 45);
        let first: Value = serde_json::from_str(sft.lines().next().unwrap()).unwrap();
        assert_eq!(first["messages"].as_array().unwrap().len(), 3);
        assert_eq!(first["messages"][2]["role"], "assistant");
        let pairs = armada_llm::demos::preference_jsonl(&decided, 1);
        for line in pairs.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_ne!(v["preferred_output"][0]["content"], v["non_preferred_output"][0]["content"]);
        }
        let recs = run_experiment(&exp, &|_| {});
        for r in llm_runs(&recs) {
            let s = r.agent.as_ref().unwrap();
            assert_eq!(s.invalid_answers, 0, "{layer}: a prompt was not in the export");
            // The agent made the teacher's choices: the same pulls per arm (best arm first).
            let seed = r.id.seed_index as usize;
            let mut counts = [0u64; 3];
            for d in &decided[15 * seed..15 * (seed + 1)] {
                counts[d.arm] += 1;
            }
            assert_eq!(r.pulls_by_rank, vec![counts[2], counts[1], counts[0]]);
        }
    }
}

#[test]
fn the_environment_names_its_scenario_and_presets_take_agents() {
    let server = FakeServer::start(|req| offered(req)[0].clone());
    let env = format!("{BERNOULLI}\nscenario = \"clothes\"");
    let recs = run(&spec(&server, &cache_dir("scenario"), &env, "", 3, 1));
    assert!(llm_runs(&recs).iter().all(|r| r.failure.is_none()));
    let first = &server.requests()[0];
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("online clothing store"), "{system}");
    let clothes = armada_llm::scenario::Scenario::built_in("clothes").unwrap();
    assert!(offered(first).iter().all(|n| clothes.pool.contains(n)));
    // An agent's own scenario wins over the environment's.
    let exp =
        parse_spec_with(&spec(&server, &cache_dir("s2"), &env, "scenario = \"ads\"", 3, 1), "t", Some(&LlmAgents))
            .unwrap();
    assert!(exp.envs[0].identity().ends_with(";scenario=clothes"));
    let before = server.request_count();
    run_experiment(&exp, &|_| {});
    let req = &server.requests()[before];
    let ads = armada_llm::scenario::Scenario::built_in("ads").unwrap();
    assert!(offered(req).iter().all(|n| ads.pool.contains(n)));

    // EVOLvE's grid with an agent added: 16 configurations, the preset's policies then ours.
    let text = format!(
        "preset = \"evolve-mab\"\nseeds = 2\n[[policy]]\nname = \"llm\"\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"{}\"\n",
        server.url()
    );
    let exp = parse_spec_with(&text, "t", Some(&LlmAgents)).unwrap();
    assert_eq!((exp.envs.len(), exp.seeds), (16, 2));
    assert_eq!(exp.envs.iter().filter(|e| e.scenario.as_deref() == Some("videos")).count(), 8);
    let labels: Vec<&str> = exp.policies.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["ucb", "thompson", "greedy", "random", "llm"]);
    let e = parse_spec_with(
        "preset = \"evolve-mab\"\n[[env]]\npreset = \"bernoulli-easy\"\narms = 2\n",
        "t",
        Some(&LlmAgents),
    )
    .unwrap_err();
    assert_eq!(e.field, "env");
    let e = parse_spec_with("preset = \"evolve-mab\"\n[[policy]]\nname = \"ucb\"\nalpah = 1\n", "t", None).unwrap_err();
    assert_eq!(e.field, "policy[4].alpah");
    assert!(e.message.contains("your [[policy]] table number 1"), "{e}");
    let e = parse_spec_with("preset = \"nope\"\n", "t", None).unwrap_err();
    assert!(e.message.contains("evolve-mab"), "{e}");
}

#[test]
fn agent_runs_do_not_depend_on_the_thread_count() {
    // The server's answer depends on the request's seed, so any change in the per-call seeds,
    // the names or the prompts would show up as different choices.
    let server = FakeServer::start(|req| {
        let names = offered(req);
        names[req["seed"].as_u64().unwrap_or(0) as usize % names.len()].clone()
    });
    let text = spec(&server, &cache_dir("threads"), BERNOULLI, "cache_mode = \"off\"\ntemperature = 0.3", 10, 6);
    let exp = parse_spec_with(&text, "t", Some(&LlmAgents)).unwrap();
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    let strip = |recs: Vec<RunRecord>| -> Vec<RunRecord> {
        recs.into_iter()
            .map(|mut r| {
                if let Some(a) = &mut r.agent {
                    a.latency_s = 0.0;
                }
                r
            })
            .collect()
    };
    let one = strip(pool(1).install(|| run_experiment(&exp, &|_| {})));
    let three = strip(pool(3).install(|| run_experiment(&exp, &|_| {})));
    assert_eq!(one, three);
    // The choices vary with the seed: the agent did not just repeat one arm.
    assert!(llm_runs(&one).iter().any(|r| r.pulls_by_rank.iter().filter(|&&n| n > 0).count() > 1));
}
