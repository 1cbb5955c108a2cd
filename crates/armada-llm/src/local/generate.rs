//! Decoding strategies of the local model: free generation, constrained choice among names, and
//! likelihood scoring of candidate answers. Not here: the forward pass, sessions (see `mod.rs`).
//!
//! - **Token choice**: greedy (the most likely token, ties to the lowest id) when the temperature
//!   is 0, otherwise a draw from `softmax(logits / T)` with a xoshiro256++ generator seeded by
//!   the request's seed (0 when absent): the same request gives the same answer.
//! - **Free generation** stops at the end of the turn (`<|im_end|>`, the end-of-sequence token,
//!   or any other special token, which is not part of the answer but counts as a completion
//!   token) with reason `stop`, or after `max_tokens` tokens (or at the context length) with
//!   reason `length`.
//! - **Constrained choice** decodes only tokens that keep the answer a prefix of some name's
//!   tokens (names tokenized on their own, which is how they tokenize after the `assistant\n`
//!   that opens the turn, unless a name starts with whitespace); the end of the turn is allowed once a whole name is produced. It
//!   stops when a whole name cannot be extended or when the end of the turn is chosen. Tokens
//!   forced by the trie are fed without computing their logits. The answer is exactly one of the
//!   names; `max_tokens` is not applied (a cut name would be no name).
//! - **Score** of a candidate: the sum of the log-probabilities of its tokens *followed by
//!   `<|im_end|>`*, as the assistant's whole answer. Ending the turn is part of the answer, so
//!   `A` is not favoured merely for being a prefix of `AB`. The prompt is computed once and its
//!   KV cache shared by all candidates.

use super::{LocalError, LocalProvider, Session};
use crate::chat::{ChatRequest, ChatResponse};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// How the next token is picked.
enum Decoder {
    Greedy,
    Sample { temperature: f64, rng: Xoshiro256PlusPlus },
}

impl Decoder {
    fn new(request: &ChatRequest) -> Result<Decoder, LocalError> {
        let t = request.temperature;
        if t.is_nan() || t < 0.0 {
            return Err(LocalError::BadInput(format!("temperature must be a number ≥ 0, not {t}")));
        }
        Ok(if t == 0.0 {
            Decoder::Greedy
        } else {
            Decoder::Sample { temperature: t, rng: Xoshiro256PlusPlus::seed_from_u64(request.seed.unwrap_or(0)) }
        })
    }

    /// A token among `allowed` (ascending ids; every token when `None`).
    fn pick(&mut self, logits: &[f32], allowed: Option<&[u32]>) -> u32 {
        let all: Vec<u32>;
        let ids = match allowed {
            Some(ids) => ids,
            None => {
                all = (0..logits.len() as u32).collect();
                &all
            }
        };
        let mut best = ids[0];
        for &id in &ids[1..] {
            if logits[id as usize] > logits[best as usize] {
                best = id;
            }
        }
        match self {
            Decoder::Greedy => best,
            Decoder::Sample { temperature, rng } => {
                let max = f64::from(logits[best as usize]);
                let weight = |id: u32| ((f64::from(logits[id as usize]) - max) / *temperature).exp();
                let total: f64 = ids.iter().map(|&id| weight(id)).sum();
                // A uniform draw in [0, 1) from the top 53 bits.
                let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) * total;
                let mut cumulative = 0.0;
                for &id in ids {
                    cumulative += weight(id);
                    if u < cumulative {
                        return id;
                    }
                }
                best
            }
        }
    }
}

/// `log softmax(logits)[token]`, in f64.
fn log_prob(logits: &[f32], token: u32) -> f64 {
    let max = f64::from(logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)));
    let sum: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
    f64::from(logits[token as usize]) - max - sum.ln()
}

fn response(content: String, prompt: usize, completion: usize, finish: &str) -> ChatResponse {
    ChatResponse {
        content,
        reasoning: None,
        prompt_tokens: prompt as u64,
        completion_tokens: completion as u64,
        finish_reason: Some(finish.to_string()),
    }
}

/// Free generation.
pub(super) fn generate(
    p: &LocalProvider,
    session: &mut Session,
    prompt: &[u32],
    request: &ChatRequest,
) -> Result<ChatResponse, LocalError> {
    let mut decoder = Decoder::new(request)?;
    let max_tokens = request.max_tokens as usize;
    let context = p.config().context;
    let mut answer = Vec::new();
    let mut completion = 0;
    let mut finish = "length";
    if max_tokens == 0 {
        p.check_tokens(prompt)?;
        p.check_length(prompt.len())?;
        return Ok(response(String::new(), prompt.len(), 0, finish));
    }
    let mut logits = p.prefill(session, prompt)?;
    loop {
        let token = decoder.pick(&logits, None);
        completion += 1;
        if token == p.turn_end || token == p.tokenizer.eos() || p.tokenizer.is_special(token) {
            finish = "stop";
            break;
        }
        answer.push(token);
        if completion == max_tokens || session.tokens.len() >= context {
            break;
        }
        logits = p.extend(session, &[token], 0)?;
    }
    Ok(response(p.tokenizer.decode(&answer), prompt.len(), completion, finish))
}

/// Constrained choice: the answer is exactly one of `names`.
pub(super) fn choose(
    p: &LocalProvider,
    session: &mut Session,
    prompt: &[u32],
    names: &[String],
    request: &ChatRequest,
) -> Result<ChatResponse, LocalError> {
    if names.is_empty() {
        return Err(LocalError::BadInput("a constrained request needs at least one choice".into()));
    }
    let mut decoder = Decoder::new(request)?;
    let sequences: Vec<Vec<u32>> = names.iter().map(|n| p.tokenizer.encode(n)).collect();
    let longest = sequences.iter().map(Vec::len).max().unwrap_or(0);
    p.check_length(prompt.len() + longest)?;
    let mut logits = p.prefill(session, prompt)?;
    let mut produced: Vec<u32> = Vec::new();
    // Tokens produced but not yet fed to the model.
    let mut pending: Vec<u32> = Vec::new();
    let mut completion = 0;
    loop {
        let depth = produced.len();
        let live: Vec<usize> = (0..names.len()).filter(|&i| sequences[i].starts_with(&produced)).collect();
        let complete = live.iter().copied().find(|&i| sequences[i].len() == depth);
        let mut options: Vec<u32> = live.iter().filter_map(|&i| sequences[i].get(depth).copied()).collect();
        if options.is_empty() {
            // A whole name that no other name extends.
            let i = complete.expect("the produced tokens are a prefix of a live name");
            return Ok(response(names[i].clone(), prompt.len(), completion, "stop"));
        }
        if complete.is_some() {
            options.push(p.turn_end);
        }
        options.sort_unstable();
        options.dedup();
        let token = if options.len() == 1 {
            options[0]
        } else {
            if !pending.is_empty() {
                logits = p.extend(session, &pending, pending.len() - 1)?;
                pending.clear();
            }
            decoder.pick(&logits, Some(&options))
        };
        completion += 1;
        if let Some(i) = complete
            && token == p.turn_end
        {
            return Ok(response(names[i].clone(), prompt.len(), completion, "stop"));
        }
        produced.push(token);
        pending.push(token);
    }
}

/// Log-probability of each candidate (followed by the end of the turn) as the whole answer.
pub(super) fn score(
    p: &LocalProvider,
    session: &mut Session,
    prompt: &[u32],
    candidates: &[String],
) -> Result<Vec<f64>, LocalError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let sequences: Vec<Vec<u32>> = candidates.iter().map(|c| p.tokenizer.encode(c)).collect();
    let longest = sequences.iter().map(Vec::len).max().unwrap_or(0);
    p.check_length(prompt.len() + longest)?;
    let after_prompt = p.prefill(session, prompt)?;
    let base = session.tokens.len();
    let vocab = p.config().vocab;
    let mut scores = Vec::with_capacity(candidates.len());
    for tokens in &sequences {
        let mut total = log_prob(&after_prompt, tokens.first().copied().unwrap_or(p.turn_end));
        if !tokens.is_empty() {
            let rows = p.extend(session, tokens, 0)?;
            for (i, row) in rows.chunks_exact(vocab).enumerate() {
                total += log_prob(row, tokens.get(i + 1).copied().unwrap_or(p.turn_end));
            }
            session.truncate(base);
        }
        scores.push(total);
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(temperature: f64, seed: u64) -> ChatRequest {
        ChatRequest { messages: vec![], temperature, max_tokens: 1, seed: Some(seed), choices: None }
    }

    #[test]
    fn greedy_takes_the_first_maximum_among_the_allowed() {
        let logits = [0.0, 3.0, 1.0, 3.0];
        let mut d = Decoder::new(&request(0.0, 1)).unwrap();
        assert_eq!(d.pick(&logits, None), 1);
        assert_eq!(d.pick(&logits, Some(&[0, 2])), 2);
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let draws = |seed| {
            let mut d = Decoder::new(&request(1.0, seed)).unwrap();
            (0..4000).map(|_| d.pick(&logits, None)).collect::<Vec<_>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
        let ones = draws(5).iter().filter(|&&t| t == 1).count() as f64 / 4000.0;
        assert!((ones - 0.75).abs() < 0.03, "{ones}");
        assert!(!draws(5).contains(&2));
        assert!(Decoder::new(&request(-1.0, 0)).is_err());
    }

    #[test]
    fn log_prob_is_a_log_softmax() {
        let logits = [1.0f32, 2.0, 3.0];
        let total: f64 = (0..3).map(|t| log_prob(&logits, t).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
