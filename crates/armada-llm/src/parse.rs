//! Reading an arm out of a model's answer.
//!
//! Models answer in many shapes: the bare name, the name in quotes or with a trailing period,
//! a JSON object `{"choice": "..."}` (structured output), a sentence ending in "Answer: X", or a
//! chain of thought followed by a final answer. [`parse_answer`] tries, in order:
//!
//! 1. drop reasoning blocks (`<think>…</think>`) and keep what follows the last "answer:" cue
//!    when there is one ("Final answer: X", "Answer: X");
//! 2. a JSON object with a `choice` (or `answer`, `action`) string, also inside a code fence;
//! 3. the whole text equal to a name, ignoring case, surrounding whitespace, quotes, brackets
//!    and final punctuation;
//! 4. exactly one name mentioned as a whole phrase (word boundaries on both sides, ignoring
//!    case), where a mention inside a longer mentioned name does not count.
//!
//! Anything else — no name, or two different names — is invalid, with the reason.

/// The outcome of reading one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The answer names this arm.
    Arm(usize),
    /// The answer names no arm, or several; the reason in words.
    Invalid(String),
}

/// Reads the arm named by `answer` among `names`.
pub fn parse_answer(answer: &str, names: &[String]) -> Parsed {
    let visible = without_reasoning(answer);
    let final_part = final_answer(&visible);
    for text in [final_part.as_str(), visible.as_str()] {
        if let Some(choice) = json_choice(text) {
            if let Some(arm) = exact(&choice, names) {
                return Parsed::Arm(arm);
            }
            return Parsed::Invalid(format!("the JSON choice \"{}\" is not one of the names", excerpt(&choice)));
        }
    }
    if let Some(arm) = exact(&final_part, names) {
        return Parsed::Arm(arm);
    }
    let found = mentions(&final_part, names);
    match found.as_slice() {
        [arm] => Parsed::Arm(*arm),
        [] => Parsed::Invalid(format!("no name in \"{}\"", excerpt(&final_part))),
        many => Parsed::Invalid(format!(
            "several names in \"{}\": {}",
            excerpt(&final_part),
            many.iter().map(|&a| names[a].as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The answer without its reasoning: `<think>…</think>` blocks removed, an unclosed block cut
/// off (the model ran out of tokens while thinking), and everything before a closing tag that
/// has no opening one (servers that strip the opening tag).
fn without_reasoning(answer: &str) -> String {
    let mut text = answer.to_string();
    while let Some(start) = text.find("<think>") {
        match text[start..].find("</think>") {
            Some(len) => text.replace_range(start..start + len + "</think>".len(), " "),
            None => text.truncate(start),
        }
    }
    if let Some(end) = text.rfind("</think>") {
        text.replace_range(..end + "</think>".len(), "");
    }
    text
}

/// The part of the answer that holds the decision: the text after the last "answer:" or
/// "answer is" cue when there is one, else the whole (reasoning-free) answer.
fn final_answer(text: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions in `lower` are positions in `text`.
    let lower = text.to_ascii_lowercase();
    let cues = [("answer:", lower.rfind("answer:")), ("answer is", lower.rfind("answer is"))];
    if let Some((cue, pos)) = cues.iter().filter_map(|&(c, p)| Some((c, p?))).max_by_key(|&(_, p)| p) {
        let after = text[pos + cue.len()..].trim();
        if !after.is_empty() {
            return after.lines().next().unwrap_or(after).to_string();
        }
    }
    text.trim().to_string()
}

/// The string under `choice` (or `answer`, `action`) in the first JSON object of `text`.
fn json_choice(text: &str) -> Option<String> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    if end < start {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&text[start..=end]).ok()?;
    ["choice", "answer", "action"].iter().find_map(|k| value.get(k)?.as_str().map(str::to_string))
}

/// Strips what models wrap a bare answer in: whitespace, quotes, brackets, asterisks, a final
/// period.
fn strip(text: &str) -> &str {
    let trim: &[char] =
        &['"', '\'', '`', '*', '[', ']', '(', ')', '<', '>', '.', '!', ',', ';', ':', '“', '”', '‘', '’'];
    let mut s = text.trim();
    loop {
        let next = s.trim_matches(trim).trim();
        if next == s {
            return s;
        }
        s = next;
    }
}

/// The arm whose name equals the stripped text, ignoring case.
fn exact(text: &str, names: &[String]) -> Option<usize> {
    let t = text.trim().to_lowercase();
    let s = strip(text).to_lowercase();
    names.iter().position(|n| {
        let n = n.to_lowercase();
        n == t || n == s
    })
}

/// The distinct arms mentioned as whole phrases, ignoring mentions inside a longer mention.
fn mentions(text: &str, names: &[String]) -> Vec<usize> {
    let hay = text.to_lowercase();
    let mut spans: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, arm)
    for (arm, name) in names.iter().enumerate() {
        let needle = name.to_lowercase();
        if needle.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(pos) = hay[from..].find(&needle) {
            let (s, e) = (from + pos, from + pos + needle.len());
            let before = hay[..s].chars().next_back();
            let after = hay[e..].chars().next();
            if !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) {
                spans.push((s, e, arm));
            }
            from = s + hay[s..].chars().next().map_or(1, char::len_utf8);
        }
    }
    let mut arms: Vec<usize> = spans
        .iter()
        .filter(|&&(s, e, a)| !spans.iter().any(|&(s2, e2, a2)| a2 != a && s2 <= s && e <= e2 && e2 - s2 > e - s))
        .map(|&(_, _, a)| a)
        .collect();
    arms.sort_unstable();
    arms.dedup();
    arms
}

fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= 80 {
        one_line
    } else {
        format!("{}…", one_line.chars().take(80).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bare_and_decorated_names() {
        let n = names(&["crimson", "teal", "Sky Blue"]);
        for (answer, arm) in [
            ("teal", 1),
            ("  TEAL \n", 1),
            ("\"teal\"", 1),
            ("'Teal'.", 1),
            ("**teal**", 1),
            ("[sky blue]", 2),
            ("I would press teal.", 1),
            ("Let me go with the Sky Blue button this time", 2),
        ] {
            assert_eq!(parse_answer(answer, &n), Parsed::Arm(arm), "{answer:?}");
        }
    }

    #[test]
    fn json_and_cues() {
        let n = names(&["A", "B", "AA"]);
        assert_eq!(parse_answer("{\"choice\": \"AA\"}", &n), Parsed::Arm(2));
        assert_eq!(parse_answer("```json\n{\"choice\": \"b\"}\n```", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("{\"answer\": \"A\"}", &n), Parsed::Arm(0));
        assert!(matches!(parse_answer("{\"choice\": \"C\"}", &n), Parsed::Invalid(m) if m.contains("\"C\"")));
        assert_eq!(parse_answer("A has more pulls but B looks better.\nAnswer: B", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("The answer is AA.", &n), Parsed::Arm(2));
        assert_eq!(parse_answer("<think>A or AA? A seems good</think>AA", &n), Parsed::Arm(2));
        // An unclosed reasoning block leaves nothing to read.
        assert!(matches!(parse_answer("<think>A is good, maybe", &n), Parsed::Invalid(_)));
        // JSON or names inside the reasoning do not count; an orphan closing tag ends it.
        assert_eq!(parse_answer("<think>{\"choice\": \"A\"} no</think>B", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("A looks good, but no.</think> AA", &n), Parsed::Arm(2));
        // The later cue wins.
        assert_eq!(parse_answer("The answer is not obvious. Final answer: B", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("Answer: maybe A. On reflection the answer is B", &n), Parsed::Arm(1));
    }

    #[test]
    fn nested_names_are_not_confused() {
        let n = names(&["blue", "sky blue", "red"]);
        assert_eq!(parse_answer("sky blue", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("I pick the sky blue one", &n), Parsed::Arm(1));
        assert_eq!(parse_answer("blue!", &n), Parsed::Arm(0));
        // Both named as separate phrases: ambiguous.
        assert!(matches!(parse_answer("blue or sky blue", &n), Parsed::Invalid(m) if m.contains("several")));
        // Inside a longer word is not a mention.
        assert!(matches!(parse_answer("bluebell", &n), Parsed::Invalid(m) if m.contains("no name")));
        assert!(matches!(parse_answer("redo", &n), Parsed::Invalid(_)));
        assert!(matches!(parse_answer("", &n), Parsed::Invalid(_)));
    }

    proptest! {
        // Any name, however decorated with case, spaces, quotes and a period, parses to itself.
        #[test]
        fn every_decorated_name_parses(arm in 0usize..4, upper in any::<bool>(), quote in 0usize..3, dot in any::<bool>()) {
            let n = names(&["Alpine Water", "Harbor Coffee", "Quill Notebooks", "Summit Boots"]);
            let mut s = if upper { n[arm].to_uppercase() } else { n[arm].to_lowercase() };
            if dot { s.push('.'); }
            let q = ["", "\"", "'"][quote];
            let s = format!("  {q}{s}{q} ");
            prop_assert_eq!(parse_answer(&s, &n), Parsed::Arm(arm));
        }

        // Parsing never panics on arbitrary text, and an arm it returns is a valid index.
        #[test]
        fn arbitrary_text_is_safe(text in ".{0,200}") {
            let n = names(&["a", "b c", "ÄÖ"]);
            if let Parsed::Arm(a) = parse_answer(&text, &n) { prop_assert!(a < n.len()); }
        }
    }
}
