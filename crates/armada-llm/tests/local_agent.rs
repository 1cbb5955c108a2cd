//! The LLM agent with the real local model (SmolLM2-135M-Instruct, in process) through the core
//! harness: every context layer and decision mode completes, constrained and likelihood
//! decisions are never invalid, and a run is reproducible without the cache.
//!
//! Needs `models/SmolLM2-135M-Instruct.Q4_1.gguf` (`scripts/fetch-smollm2.sh`, run by CI).

use armada::harness::run_experiment;
use armada::spec::parse_spec_with;
use armada_llm::config::LlmAgents;

fn model() -> String {
    let path = armada_llm::local::default_model_path();
    assert!(path.exists(), "{} is missing: run scripts/fetch-smollm2.sh", path.display());
    path.display().to_string()
}

#[test]
fn smollm2_plays_a_verbal_bandit_in_every_layer() {
    let model = model();
    let text = format!(
        r#"
name = "local"
horizon = 4
seeds = 1
seed = 3
checkpoints = 2
[[env]]
preset = "bernoulli-hard"
arms = 4
[[policy]]
name = "ucb"
[[policy]]
name = "llm"
label = "raw"
model = "{model}"
layer = "raw"
cache_mode = "off"
[[policy]]
name = "llm"
label = "guided-constrained"
model = "{model}"
layer = "guided"
scenario = "videos"
constrain = true
cache_mode = "off"
[[policy]]
name = "llm"
label = "likelihood"
model = "{model}"
layer = "summary"
scenario = "ads"
decide = "likelihood"
temperature = 1.0
cache_mode = "off"
"#
    );
    let exp = parse_spec_with(&text, "local", Some(&LlmAgents)).expect("valid spec");
    let first = run_experiment(&exp, &|_| {});
    for r in first.iter().filter(|r| r.agent.is_some()) {
        let label = &exp.policies[r.id.policy].label;
        assert_eq!(r.failure, None, "{label}");
        let s = r.agent.as_ref().unwrap();
        assert_eq!(s.decisions, 4, "{label}");
        assert_eq!(r.pulls_by_rank.iter().sum::<u64>(), 4, "{label}");
        if label != "raw" {
            assert_eq!(s.invalid_answers, 0, "{label}: constrained and likelihood choices are always names");
        }
        if label != "likelihood" {
            assert!(s.prompt_tokens > 4 * 100 && s.completion_tokens >= 4, "{label}: {s:?}");
        }
    }
    // No cache, and the model is deterministic: a second run is identical.
    let second = run_experiment(&exp, &|_| {});
    assert_eq!(
        first,
        second
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let (Some(a), Some(b)) = (&mut r.agent, &first.iter().find(|f| f.id == r.id).unwrap().agent) {
                    a.latency_s = b.latency_s;
                }
                r
            })
            .collect::<Vec<_>>()
    );
}
