//! A GPT-2-style byte-level BPE tokenizer built from GGUF metadata (`tokenizer.ggml.*`).
//!
//! Text is split into pieces by the pre-tokenizer named in `tokenizer.ggml.pre` (for SmolLM2,
//! `smollm`: every digit on its own, then the GPT-2 pattern), each piece's bytes are mapped to
//! printable characters (GPT-2's byte-to-unicode table, so a space is `Ġ`), and adjacent symbols
//! are merged by rank (`tokenizer.ggml.merges`). Special tokens (control and user-defined, e.g.
//! `<|im_start|>`) are recognised only by [`Tokenizer::encode_with_special`]; plain
//! [`Tokenizer::encode`] treats all text as text, so `decode(encode(s)) == s` for any string
//! the vocabulary can represent.
//!
//! A byte-level vocabulary normally has a token for each of the 256 bytes; SmolLM2's lacks 21
//! (bytes never seen in training: the controls 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, the UTF-8
//! lead bytes 0xF1 and 0xF2 of the unassigned planes 4–11, and bytes that never occur in UTF-8).
//! A character whose UTF-8 encoding needs such a byte cannot be tokenized; it is encoded as
//! U+FFFD (the replacement character) instead of being dropped, and [`Tokenizer::can_encode`]
//! tells which characters round-trip.
//! Not for: chat templates (see [`super::template`]).

use candle_core::quantized::gguf_file::{Content, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::OnceLock;

/// How text is split into pieces before BPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PreTokenizer {
    /// The GPT-2 pattern: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    Gpt2,
    /// Each `\p{N}` character isolated first, then the GPT-2 pattern on each piece (llama.cpp's
    /// `smollm`, `starcoder`, `refact`, … pre-tokenizers; Hugging Face's `Digits(individual)`
    /// followed by `ByteLevel`).
    DigitsThenGpt2,
}

/// What a character that the vocabulary cannot represent is encoded as.
const REPLACEMENT: &str = "\u{FFFD}";

/// A byte-level BPE tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    /// The stored text of each token (byte-level characters for normal tokens).
    tokens: Vec<String>,
    /// The bytes each token stands for.
    bytes: Vec<Vec<u8>>,
    /// Normal tokens by their byte-level text.
    ids: HashMap<String, u32>,
    /// `(left, right) → (rank, merged)`.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// The token of each single byte, when the vocabulary has one.
    byte_token: [Option<u32>; 256],
    /// Special tokens (control and user-defined), longest text first.
    special: Vec<(String, u32)>,
    is_special: Vec<bool>,
    pre: PreTokenizer,
    eos: u32,
    bos: Option<u32>,
}

/// GPT-2's map from bytes to printable characters: printable Latin-1 bytes map to themselves,
/// the others to U+0100 onwards in byte order.
fn byte_to_char() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[usize::from(b)] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("U+0100..U+0143 are characters");
            next += 1;
            c
        };
    }
    map
}

fn string_array<'a>(content: &'a Content, key: &str) -> Result<Vec<&'a str>, String> {
    match content.metadata.get(key) {
        None => Err(format!("metadata key {key} is missing")),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(format!("{key}[{i}] is not a string: {other:?}")),
            })
            .collect(),
        Some(other) => Err(format!("metadata key {key} is not an array: {}", short(other))),
    }
}

fn short(v: &Value) -> String {
    let s = format!("{v:?}");
    s.chars().take(80).collect()
}

fn token_id(content: &Content, key: &str, vocab: usize) -> Result<Option<u32>, String> {
    if !content.metadata.contains_key(key) {
        return Ok(None);
    }
    let id = super::model::meta_usize(content, key)?;
    if id >= vocab {
        return Err(format!("{key} = {id} is outside the vocabulary of {vocab} tokens"));
    }
    Ok(Some(id as u32))
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.{model, pre, tokens, token_type, merges,
    /// eos_token_id, bos_token_id}`.
    pub(crate) fn from_gguf(content: &Content) -> Result<Tokenizer, String> {
        match content.metadata.get("tokenizer.ggml.model") {
            Some(Value::String(m)) if m == "gpt2" => {}
            Some(other) => return Err(format!("tokenizer model {} is not supported (only gpt2)", short(other))),
            None => return Err("metadata key tokenizer.ggml.model is missing".into()),
        }
        let pre = match content.metadata.get("tokenizer.ggml.pre") {
            None => PreTokenizer::Gpt2,
            Some(Value::String(p)) => match p.as_str() {
                "gpt2" | "default" => PreTokenizer::Gpt2,
                "smollm" | "starcoder" | "refact" | "codeshell" | "exaone" | "minerva" | "command-r" => {
                    PreTokenizer::DigitsThenGpt2
                }
                other => return Err(format!("pre-tokenizer {other:?} is not supported")),
            },
            Some(other) => return Err(format!("tokenizer.ggml.pre is not a string: {}", short(other))),
        };
        let texts = string_array(content, "tokenizer.ggml.tokens")?;
        let vocab = texts.len();
        if vocab == 0 || vocab > u32::MAX as usize / 2 {
            return Err(format!("vocabulary of {vocab} tokens"));
        }
        let types: Vec<i64> = match content.metadata.get("tokenizer.ggml.token_type") {
            None => vec![1; vocab],
            Some(Value::Array(items)) if items.len() == vocab => items
                .iter()
                .map(|v| match v {
                    Value::I32(t) => Ok(i64::from(*t)),
                    Value::U32(t) => Ok(i64::from(*t)),
                    other => Err(format!("token type {} is not an integer", short(other))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("tokenizer.ggml.token_type does not match the vocabulary".into()),
        };
        let to_char = byte_to_char();
        let mut from_char: HashMap<char, u8> = HashMap::new();
        for (b, &c) in to_char.iter().enumerate() {
            from_char.insert(c, b as u8);
        }
        // Types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
        let is_special: Vec<bool> = types.iter().map(|&t| t == 3 || t == 4).collect();
        let mut ids = HashMap::with_capacity(vocab);
        let mut bytes = Vec::with_capacity(vocab);
        let mut special = Vec::new();
        for (i, &text) in texts.iter().enumerate() {
            if is_special[i] {
                special.push((text.to_string(), i as u32));
                bytes.push(text.as_bytes().to_vec());
            } else {
                ids.entry(text.to_string()).or_insert(i as u32);
                let mut b = Vec::with_capacity(text.len());
                for c in text.chars() {
                    match from_char.get(&c) {
                        Some(&byte) => b.push(byte),
                        None => b.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                bytes.push(b);
            }
        }
        special.retain(|(text, _)| !text.is_empty());
        special.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let mut byte_token = [None; 256];
        for (b, c) in to_char.iter().enumerate() {
            byte_token[b] = ids.get(c.to_string().as_str()).copied();
        }
        if let Some(b) = REPLACEMENT.bytes().find(|&b| byte_token[usize::from(b)].is_none()) {
            return Err(format!("the vocabulary has no token for byte 0x{b:02x} (needed by U+FFFD)"));
        }
        let merge_texts = string_array(content, "tokenizer.ggml.merges")?;
        let mut merges = HashMap::with_capacity(merge_texts.len());
        for (rank, m) in merge_texts.iter().enumerate() {
            let (l, r) = m.split_once(' ').ok_or_else(|| format!("merge #{rank} {m:?} has no space"))?;
            let lookup =
                |s: &str| ids.get(s).copied().ok_or_else(|| format!("merge #{rank} {m:?}: unknown token {s:?}"));
            let merged = format!("{l}{r}");
            merges.entry((lookup(l)?, lookup(r)?)).or_insert((rank as u32, lookup(&merged)?));
        }
        let eos = token_id(content, "tokenizer.ggml.eos_token_id", vocab)?
            .ok_or("metadata key tokenizer.ggml.eos_token_id is missing")?;
        let bos = token_id(content, "tokenizer.ggml.bos_token_id", vocab)?;
        Ok(Tokenizer {
            tokens: texts.iter().map(|s| s.to_string()).collect(),
            bytes,
            ids,
            merges,
            byte_token,
            special,
            is_special,
            pre,
            eos,
            bos,
        })
    }

    /// Tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The stored text of token `id` (byte-level characters, e.g. `Ġthe`), if it exists.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a special token (e.g. `<|im_end|>`) or of a normal token given in its stored,
    /// byte-level form (e.g. `Ġthe`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.special.iter().find(|(t, _)| t == text).map(|&(_, id)| id).or_else(|| self.ids.get(text).copied())
    }

    /// Whether `id` is a special (control or user-defined) token.
    pub fn is_special(&self, id: u32) -> bool {
        self.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// The end-of-sequence token (`tokenizer.ggml.eos_token_id`).
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The beginning-of-sequence token, if the file names one.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// Whether `c` round-trips through [`Tokenizer::encode`] and [`Tokenizer::decode`]: the
    /// vocabulary has a token for every byte of its UTF-8 encoding. Other characters are encoded
    /// as U+FFFD.
    pub fn can_encode(&self, c: char) -> bool {
        c.encode_utf8(&mut [0; 4]).bytes().all(|b| self.byte_token[usize::from(b)].is_some())
    }

    /// `text` with every character that [`Tokenizer::can_encode`] refuses replaced by U+FFFD.
    fn representable<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if text.bytes().all(|b| self.byte_token[usize::from(b)].is_some()) {
            return text.into();
        }
        text.chars().map(|c| if self.can_encode(c) { c } else { '\u{FFFD}' }).collect::<String>().into()
    }

    /// Tokenizes `text` as plain text: special-token names in it are tokenized like any text.
    /// Characters the vocabulary cannot represent are encoded as U+FFFD.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// Tokenizes `text`, turning every occurrence of a special token's name (e.g.
    /// `<|im_start|>`) into that single token.
    pub fn encode_with_special(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        'outer: while !rest.is_empty() {
            // The earliest special token, the longest one at that position.
            let mut best: Option<(usize, &str, u32)> = None;
            for (name, id) in &self.special {
                if let Some(at) = rest.find(name.as_str())
                    && best.is_none_or(|(b, bn, _)| at < b || (at == b && name.len() > bn.len()))
                {
                    best = Some((at, name, *id));
                }
            }
            match best {
                Some((at, name, id)) => {
                    self.encode_into(&rest[..at], &mut out);
                    out.push(id);
                    rest = &rest[at + name.len()..];
                }
                None => {
                    self.encode_into(rest, &mut out);
                    break 'outer;
                }
            }
        }
        out
    }

    /// The bytes the tokens stand for (special tokens as their names).
    pub fn decode_bytes(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            if let Some(b) = self.bytes.get(id as usize) {
                out.extend_from_slice(b);
            }
        }
        out
    }

    /// The text the tokens stand for; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let text = self.representable(text);
        let text = text.as_ref();
        match self.pre {
            PreTokenizer::Gpt2 => gpt2_pieces(text, &mut |piece| self.bpe(piece, out)),
            PreTokenizer::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, c) in text.char_indices() {
                    if c.is_numeric() {
                        gpt2_pieces(&text[start..i], &mut |piece| self.bpe(piece, out));
                        self.bpe(&text[i..i + c.len_utf8()], out);
                        start = i + c.len_utf8();
                    }
                }
                gpt2_pieces(&text[start..], &mut |piece| self.bpe(piece, out));
            }
        }
    }

    /// Byte-pair encoding of one piece: start from its bytes and repeatedly merge the adjacent
    /// pair of lowest rank (the leftmost among equals), as GPT-2 and Hugging Face do. A heap of
    /// candidate pairs over a linked list of symbols keeps long pieces at O(n log n).
    fn bpe(&self, piece: &str, out: &mut Vec<u32>) {
        // `encode_into` replaced the characters with bytes the vocabulary lacks.
        let ids: Vec<u32> = piece.bytes().filter_map(|b| self.byte_token[usize::from(b)]).collect();
        if ids.len() < 2 {
            out.extend_from_slice(&ids);
            return;
        }
        const NONE: usize = usize::MAX;
        struct Symbol {
            id: u32,
            prev: usize,
            next: usize,
        }
        let mut symbols: Vec<Symbol> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| Symbol { id, prev: i.wrapping_sub(1), next: if i + 1 < ids.len() { i + 1 } else { NONE } })
            .collect();
        symbols[0].prev = NONE;
        // Min-heap of (rank, left position, left id, right id); entries go stale when a side changes.
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Reverse<(u32, usize, u32, u32)>>, symbols: &[Symbol], i: usize| {
            let j = symbols[i].next;
            if j != NONE
                && let Some(&(rank, _)) = self.merges.get(&(symbols[i].id, symbols[j].id))
            {
                heap.push(Reverse((rank, i, symbols[i].id, symbols[j].id)));
            }
        };
        for i in 0..symbols.len() {
            push(&mut heap, &symbols, i);
        }
        while let Some(Reverse((_, i, left, right))) = heap.pop() {
            let j = symbols[i].next;
            // Stale: the left symbol was merged away or changed, or its right neighbour did.
            if symbols[i].id != left || j == NONE || symbols[j].id != right {
                continue;
            }
            symbols[i].id = self.merges[&(left, right)].1;
            let after = symbols[j].next;
            symbols[i].next = after;
            if after != NONE {
                symbols[after].prev = i;
            }
            // `j` is unlinked; mark it so that heap entries starting at it are stale.
            symbols[j].id = u32::MAX;
            symbols[j].next = NONE;
            if symbols[i].prev != NONE {
                push(&mut heap, &symbols, symbols[i].prev);
            }
            push(&mut heap, &symbols, i);
        }
        let mut i = 0;
        while i != NONE {
            out.push(symbols[i].id);
            i = symbols[i].next;
        }
    }
}

/// The ranges of Unicode general category L (letters), from regex-syntax's tables.
fn letter_ranges() -> &'static [(char, char)] {
    static RANGES: OnceLock<Vec<(char, char)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::Parser::new().parse(r"\p{L}").expect("\\p{L} is a valid class");
        match hir.kind() {
            HirKind::Class(Class::Unicode(class)) => class.ranges().iter().map(|r| (r.start(), r.end())).collect(),
            other => unreachable!("\\p{{L}} parsed as {other:?}"),
        }
    })
}

fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    let ranges = letter_ranges();
    let i = ranges.partition_point(|&(_, end)| end < c);
    i < ranges.len() && ranges[i].0 <= c
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Number,
    Space,
    Other,
}

fn class(c: char) -> Class {
    if is_letter(c) {
        Class::Letter
    } else if c.is_numeric() {
        Class::Number
    } else if c.is_whitespace() {
        Class::Space
    } else {
        Class::Other
    }
}

/// Splits `text` by the GPT-2 pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// alternatives tried in order at each position (leftmost-first, like the regex engines).
fn gpt2_pieces(text: &str, emit: &mut dyn FnMut(&str)) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        let end = piece_end(&chars, i, c);
        debug_assert!(end > i);
        emit(&text[byte_at(i)..byte_at(end)]);
        i = end;
    }
}

/// The end (exclusive, in characters) of the piece starting at `i`.
fn piece_end(chars: &[(usize, char)], i: usize, c: char) -> usize {
    let n = chars.len();
    let at = |j: usize| chars.get(j).map(|&(_, c)| c);
    // 's 't 're 've 'm 'll 'd
    if c == '\'' {
        match (at(i + 1), at(i + 2)) {
            (Some('s' | 't' | 'm' | 'd'), _) => return i + 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => return i + 3,
            _ => {}
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional leading space, then a run.
    let first = if c == ' ' { i + 1 } else { i };
    if let Some(f) = at(first) {
        let run_class = class(f);
        if run_class != Class::Space {
            let mut j = first + 1;
            while j < n && class(chars[j].1) == run_class {
                j += 1;
            }
            return j;
        }
    }
    // `\s+(?!\S)` then `\s+`: a whitespace run; when non-space follows a run of two or more,
    // the last whitespace character is left to start the next piece.
    let mut j = i + 1;
    while j < n && class(chars[j].1) == Class::Space {
        j += 1;
    }
    if j < n && j - i > 1 { j - 1 } else { j }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        gpt2_pieces(text, &mut |p| out.push(p.to_string()));
        out
    }

    #[test]
    fn gpt2_pattern_splits_like_the_regex() {
        assert_eq!(pieces("Hello world"), ["Hello", " world"]);
        assert_eq!(
            pieces("I'm here, it's   fine!\n\n"),
            ["I", "'m", " here", ",", " it", "'s", "  ", " fine", "!", "\n\n"]
        );
        assert_eq!(pieces("a  \n b"), ["a", "  \n", " b"]);
        assert_eq!(pieces("x\ty"), ["x", "\t", "y"]);
        assert_eq!(pieces(" 42 apples"), [" 42", " apples"]);
        assert_eq!(pieces("don'T"), ["don", "'", "T"]);
        assert_eq!(pieces("été Ωmega"), ["été", " Ωmega"]);
        assert_eq!(pieces("   "), ["   "]);
    }

    #[test]
    fn byte_map_is_a_bijection_onto_printable_characters() {
        let map = byte_to_char();
        let mut seen: Vec<char> = map.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert_eq!(map[usize::from(b' ')], 'Ġ');
        assert_eq!(map[usize::from(b'\n')], 'Ċ');
        assert_eq!(map[usize::from(b'A')], 'A');
    }

    #[test]
    fn letters_follow_the_general_category() {
        assert!(is_letter('a') && is_letter('Ω') && is_letter('漢'));
        assert!(!is_letter('1') && !is_letter(' ') && !is_letter('\u{0301}') && !is_letter('Ⅷ'));
    }
}
