//! The in-process local model (SmolLM2-135M-Instruct, Q4_1) end to end: tokenizer, template,
//! generation, determinism and prefix reuse, constrained choice, scoring, errors.
//!
//! These tests need the model file: run `scripts/fetch-smollm2.sh` first (CI does, through
//! `scripts/install-test-deps.sh`). Without it they fail, saying so. Meant for release mode
//! (`cargo test --release`); one model is loaded and shared by all tests of this file.

use armada_llm::chat::{ChatRequest, ChatResponse, Message, Provider, ProviderError};
use armada_llm::local::{LocalError, LocalProvider, TURN_END, TURN_START, default_model_path};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn provider() -> &'static LocalProvider {
    static PROVIDER: OnceLock<LocalProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| match LocalProvider::load(&default_model_path()) {
        Ok(provider) => provider,
        // The message says to run scripts/fetch-smollm2.sh.
        Err(e @ LocalError::MissingModel(_)) => panic!("{e}"),
        Err(e) => panic!("cannot load the local model: {e} (scripts/fetch-smollm2.sh restores it)"),
    })
}

fn request(messages: Vec<Message>, max_tokens: u32) -> ChatRequest {
    ChatRequest { messages, temperature: 0.0, max_tokens, seed: Some(1), choices: None }
}

fn chat(request: &ChatRequest) -> ChatResponse {
    provider().chat(request).unwrap_or_else(|e| panic!("chat failed: {e}"))
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("armada-local-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("write a temporary file");
    path
}

// --- loading --------------------------------------------------------------------------------

#[test]
fn a_missing_model_file_says_how_to_fetch_it() {
    let err = LocalProvider::load(Path::new("/nonexistent/SmolLM2.gguf")).err().expect("no such file");
    assert!(matches!(err, LocalError::MissingModel(_)));
    let message = err.to_string();
    assert!(message.contains("/nonexistent/SmolLM2.gguf") && message.contains("scripts/fetch-smollm2.sh"), "{message}");
}

/// A GGUF v3 file with the given string metadata and no tensors.
fn gguf_with_strings(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((entries.len() as u64).to_le_bytes());
    for (k, v) in entries {
        b.extend((k.len() as u64).to_le_bytes());
        b.extend(k.as_bytes());
        b.extend(8u32.to_le_bytes()); // string
        b.extend((v.len() as u64).to_le_bytes());
        b.extend(v.as_bytes());
    }
    b
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let garbage = temp_file("garbage.gguf", b"this is not a GGUF file at all");
    let no_keys = temp_file("nokeys.gguf", &gguf_with_strings(&[("general.architecture", "llama")]));
    let other = temp_file("other.gguf", &gguf_with_strings(&[("general.architecture", "mamba")]));
    let full = std::fs::read(default_model_path()).expect("the model file (run scripts/fetch-smollm2.sh)");
    let truncated = temp_file("truncated.gguf", &full[..full.len() / 2]);
    for (path, expected) in
        [(&garbage, "GGUF"), (&no_keys, "llama.block_count"), (&other, "mamba"), (&truncated, "tensor ")]
    {
        let err = LocalProvider::load(path).err().expect("a bad file is refused");
        let message = err.to_string();
        assert!(matches!(err, LocalError::BadModel { .. }), "{message}");
        assert!(message.contains(&*path.to_string_lossy()) && message.contains(expected), "{message}");
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn identity_names_the_model_and_its_hash() {
    fn shared<T: Send + Sync>(_: &T) {}
    shared(provider());
    let id = provider().identity();
    assert!(id.starts_with("local:SmolLM2-135M-Instruct.Q4_1:b179c9523d0e:"), "{id}");
    let c = provider().config();
    assert_eq!((c.layers, c.hidden, c.heads, c.kv_heads, c.ffn, c.vocab), (30, 576, 9, 3, 1536, 49152));
    assert!(c.tied_embeddings);
}

// --- tokenizer and template -----------------------------------------------------------------

#[test]
fn common_words_are_single_tokens_with_the_space_marker() {
    let t = provider().tokenizer();
    let text = |ids: &[u32]| ids.iter().map(|&i| t.token_text(i).unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(
        text(&t.encode("What is the capital of France?")),
        ["What", "Ġis", "Ġthe", "Ġcapital", "Ġof", "ĠFrance", "?"]
    );
    assert_eq!(text(&t.encode("Hello world\n")), ["Hello", "Ġworld", "Ċ"]);
    // SmolLM2's pre-tokenizer isolates digits.
    assert_eq!(text(&t.encode(" 2024")), ["Ġ", "2", "0", "2", "4"]);
    // Special tokens only with `encode_with_special`.
    let start = t.token_id(TURN_START).unwrap();
    let end = t.token_id(TURN_END).unwrap();
    assert_eq!(
        t.encode_with_special("<|im_start|>user\nhi<|im_end|>"),
        [vec![start], t.encode("user\nhi"), vec![end]].concat()
    );
    assert!(t.encode("<|im_end|>").len() > 1);
    assert_eq!(t.decode(&[end]), "<|im_end|>");
}

#[test]
fn long_pieces_tokenize_quickly() {
    let t = provider().tokenizer();
    let text = "ab".repeat(50_000) + &" x".repeat(20_000);
    let start = std::time::Instant::now();
    let ids = t.encode(&text);
    assert_eq!(t.decode(&ids), text);
    assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
}

/// Strings mixing ASCII, whitespace, digits, contractions, special-token names and any
/// character the vocabulary can represent.
fn text_strategy() -> impl Strategy<Value = String> {
    let t = provider().tokenizer();
    let piece = prop_oneof![
        4 => "[a-zA-Z ]{1,8}",
        2 => "[ \t\n\r]{1,4}",
        1 => "[0-9.,:'!?-]{1,4}",
        1 => Just("'s".to_string()),
        1 => Just("<|im_end|>".to_string()),
        3 => any::<char>().prop_filter("representable", move |c| t.can_encode(*c)).prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tokenizer_round_trips(text in text_strategy()) {
        let t = provider().tokenizer();
        prop_assert_eq!(t.decode(&t.encode(&text)), text);
    }

    #[test]
    fn unrepresentable_characters_become_replacement_characters(text in any::<String>()) {
        let t = provider().tokenizer();
        let expected: String = text.chars().map(|c| if t.can_encode(c) { c } else { '\u{FFFD}' }).collect();
        prop_assert_eq!(t.decode(&t.encode(&text)), expected);
    }
}

#[test]
fn prompt_tokens_count_the_templated_prompt() {
    let p = provider();
    for messages in [
        vec![Message::user("Name a colour.")],
        vec![
            Message::system("You are terse."),
            Message::user("Hi"),
            Message::assistant("Hello."),
            Message::user("Bye"),
        ],
    ] {
        let rendered = p.template().render(&messages);
        assert!(rendered.ends_with("<|im_start|>assistant\n"));
        // With no system message, the template's default one is used.
        assert_eq!(rendered.contains("named SmolLM"), messages[0].content == "Name a colour.");
        let expected = p.tokenizer().encode_with_special(&rendered).len() as u64;
        let r = chat(&request(messages, 2));
        assert_eq!(r.prompt_tokens, expected);
    }
}

// --- generation -----------------------------------------------------------------------------

#[test]
fn greedy_answer_names_paris() {
    let r = chat(&request(vec![Message::user("What is the capital of France?")], 24));
    eprintln!("capital of France: {:?} ({:?})", r.content, r.finish_reason);
    assert!(r.content.contains("Paris"), "{:?}", r.content);
    assert!(r.completion_tokens >= 1 && r.completion_tokens <= 24);
    assert!(matches!(r.finish_reason.as_deref(), Some("stop" | "length")));
}

#[test]
fn max_tokens_is_respected() {
    let messages = vec![Message::user("Write a long poem about the sea.")];
    let r = chat(&request(messages.clone(), 5));
    assert_eq!((r.completion_tokens, r.finish_reason.as_deref()), (5, Some("length")));
    assert!(!r.content.is_empty());
    let none = chat(&request(messages, 0));
    assert_eq!((none.content.as_str(), none.completion_tokens, none.finish_reason.as_deref()), ("", 0, Some("length")));
}

#[test]
fn sampling_is_determined_by_the_seed() {
    let sampled = |seed| {
        let r = ChatRequest {
            temperature: 1.0,
            seed: Some(seed),
            ..request(vec![Message::user("Tell me a fun fact.")], 10)
        };
        chat(&r).content
    };
    let first = sampled(7);
    assert_eq!(first, sampled(7));
    let others: Vec<String> = (8..11).map(sampled).collect();
    assert!(others.iter().any(|o| *o != first), "three other seeds all gave {first:?}");
}

#[test]
fn prefix_reuse_gives_bit_identical_logits() {
    let p = provider();
    let system = Message::system(
        "You are playing a game with five slot machines: amber, birch, cedar, delta and ember. \
         Each round, pick one machine. Answer with its name only.",
    );
    let first = p.prompt_tokens(&[system.clone(), Message::user("Round 1. No history yet. Which machine?")]);
    let second = p.prompt_tokens(&[system, Message::user("Round 2. amber paid 1. Which machine?")]);
    let common = first.iter().zip(&second).take_while(|(a, b)| a == b).count();
    assert!(common > 30 && common < second.len(), "prompts share {common} tokens");

    let mut reused = p.new_session();
    p.next_token_logits(&mut reused, &first).unwrap();
    let after_reuse = p.next_token_logits(&mut reused, &second).unwrap();
    assert_eq!(reused.reused(), common);
    let mut fresh = p.new_session();
    let from_scratch = p.next_token_logits(&mut fresh, &second).unwrap();
    assert_eq!(fresh.reused(), 0);
    assert_eq!(after_reuse.len(), p.config().vocab);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(bits(&after_reuse) == bits(&from_scratch), "logits differ after prefix reuse");
    // The same prompt again reuses everything but its last token, and changes nothing.
    assert!(bits(&p.next_token_logits(&mut fresh, &second).unwrap()) == bits(&from_scratch));
    assert_eq!(fresh.reused(), second.len() - 1);
}

#[test]
fn answers_do_not_depend_on_the_session_or_thread() {
    let req = |q: &str| request(vec![Message::user(q)], 8);
    let a = req("Name a fruit.");
    let b = req("Name a fruit that is red.");
    let alone = chat(&a);
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| chat(&a));
        let tb = s.spawn(|| chat(&b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(ra, alone);
    assert_eq!(chat(&b), rb);
    assert!(provider().idle_sessions() >= 1);
}

// --- constrained choice ---------------------------------------------------------------------

#[test]
fn constrained_choice_always_returns_one_of_the_names() {
    let sets: [&[&str]; 5] = [
        &["A", "AA"],
        &["blue", "sky blue"],
        &["amber", "birch", "cedar", "delta", "ember"],
        &["left", "right", "leftmost"],
        &["état", "été", "42"],
    ];
    let question = Message::user("Pick one of the options. Answer with the option only.");
    for set in sets {
        let choices = names(set);
        for (temperature, seed) in [(0.0, 1), (1.0, 1), (1.0, 2), (1.5, 3)] {
            let r = chat(&ChatRequest {
                temperature,
                seed: Some(seed),
                choices: Some(choices.clone()),
                ..request(vec![question.clone()], 4)
            });
            assert!(choices.contains(&r.content), "{:?} is not one of {choices:?}", r.content);
            assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        }
    }
}

#[test]
fn constrained_choice_follows_the_prompt_and_reaches_nested_names() {
    let ask = |word: &str, set: &[&str]| {
        let m = vec![Message::user(format!("Answer with the words '{word}' and nothing else."))];
        chat(&ChatRequest { choices: Some(names(set)), ..request(m, 4) }).content
    };
    assert_eq!(ask("sky blue", &["blue", "sky blue"]), "sky blue");
    assert_eq!(ask("blue", &["blue", "sky blue"]), "blue");
    assert_eq!(ask("banana", &["apple", "banana", "cherry"]), "banana");
}

#[test]
fn requests_the_model_cannot_serve_are_fatal_errors() {
    let p = provider();
    let long = Message::user("word ".repeat(9000));
    let r = p.chat(&request(vec![long.clone()], 4));
    assert!(matches!(&r, Err(ProviderError::Fatal(m)) if m.contains("context")), "{r:?}");
    assert!(matches!(p.score(&[long], &names(&["a"])), Some(Err(ProviderError::Fatal(_)))));
    let r = p.chat(&ChatRequest { temperature: -1.0, ..request(vec![Message::user("Hi")], 4) });
    assert!(matches!(r, Err(ProviderError::Fatal(_))), "{r:?}");
    assert_eq!(p.score(&[Message::user("Hi")], &[]).unwrap().unwrap(), Vec::<f64>::new());
}

#[test]
fn an_empty_choice_list_is_a_fatal_error() {
    let r = provider().chat(&ChatRequest { choices: Some(vec![]), ..request(vec![Message::user("Hi")], 4) });
    assert!(matches!(r, Err(ProviderError::Fatal(_))), "{r:?}");
}

// --- scoring --------------------------------------------------------------------------------

#[test]
fn score_gives_log_probabilities_that_follow_the_prompt() {
    let p = provider();
    let messages = vec![Message::user("Answer with the word 'banana'.")];
    let candidates = names(&["apple", "banana", "cherry", "A", "AA", ""]);
    let scores = p.score(&messages, &candidates).expect("the local model scores").unwrap();
    eprintln!("scores: {scores:?}");
    assert_eq!(scores.len(), candidates.len());
    assert!(scores.iter().all(|s| s.is_finite() && *s <= 0.0), "{scores:?}");
    let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
    assert_eq!(candidates[best], "banana", "{scores:?}");
    // Scoring is deterministic and independent of the candidates scored alongside.
    let again = p.score(&messages, &names(&["cherry", "banana"])).unwrap().unwrap();
    assert_eq!(again[0].to_bits(), scores[2].to_bits());
    assert_eq!(again[1].to_bits(), scores[1].to_bits());
}
