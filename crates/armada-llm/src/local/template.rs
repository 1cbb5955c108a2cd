//! The chat template: how a conversation becomes the model's prompt (ChatML).
//!
//! SmolLM2's `tokenizer.chat_template` (a Jinja template in the GGUF metadata) renders
//! `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`, and
//! inserts a default system message (`You are a helpful AI assistant named SmolLM, trained by
//! Hugging Face`) when the first message is not a system message. This module does not run
//! Jinja: it recognises a ChatML template, takes its default system message from it, and renders
//! the same text. A template that is not ChatML is refused at load time.
//!
//! Decision: the default system message is kept, as in the template, because that is the prompt
//! the model was tuned on (and what llama.cpp or transformers would send); callers who want no
//! system prompt at all cannot have it, callers who want another one pass a system message.
//!
//! Message contents are tokenized as plain text: a message cannot forge a turn boundary by
//! containing the text `<|im_end|>`. For ordinary text this gives exactly the tokens of the
//! rendered prompt tokenized with special tokens recognised.

use super::tokenizer::Tokenizer;
use crate::chat::{Message, Speaker};

/// A ChatML chat template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatTemplate {
    /// The system message inserted when a conversation does not start with one.
    pub default_system: Option<String>,
}

/// The name of the special token that opens a turn.
pub const TURN_START: &str = "<|im_start|>";
/// The name of the special token that closes a turn (end of the assistant's answer).
pub const TURN_END: &str = "<|im_end|>";

/// One part of a rendered prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    TurnStart,
    TurnEnd,
    Text(String),
}

fn role_name(role: Speaker) -> &'static str {
    match role {
        Speaker::System => "system",
        Speaker::User => "user",
        Speaker::Assistant => "assistant",
    }
}

/// Undoes the escapes of a Jinja string literal (`\n`, `\t`, `\\`, `\'`, `\"`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl ChatTemplate {
    /// Plain ChatML without a default system message (used when the file has no template).
    pub fn chatml() -> ChatTemplate {
        ChatTemplate { default_system: None }
    }

    /// Recognises a ChatML Jinja template and its default system message.
    pub fn from_jinja(template: &str) -> Result<ChatTemplate, String> {
        if !(template.contains(TURN_START) && template.contains(TURN_END) && template.contains("message['content']")) {
            let head: String = template.chars().take(120).collect();
            return Err(format!("chat template is not ChatML, which is the only one implemented: {head:?}…"));
        }
        // `{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n…<|im_end|>\n' }}`
        let default_system =
            ["!= 'system'", "!= \"system\""].iter().find_map(|cond| template.find(cond)).and_then(|at| {
                let rest = &template[at..];
                let open = format!("{TURN_START}system");
                let body = &rest[rest.find(&open)? + open.len()..];
                let body = body.strip_prefix("\\n").or_else(|| body.strip_prefix('\n'))?;
                Some(unescape(&body[..body.find(TURN_END)?]))
            });
        Ok(ChatTemplate { default_system })
    }

    /// The messages actually rendered: `messages`, preceded by the default system message when
    /// the first one is not a system message (nothing is added to an empty conversation).
    fn with_default<'a>(&'a self, messages: &'a [Message]) -> Vec<(Speaker, &'a str)> {
        let mut out = Vec::with_capacity(messages.len() + 1);
        if let (Some(first), Some(system)) = (messages.first(), &self.default_system)
            && first.role != Speaker::System
        {
            out.push((Speaker::System, system.as_str()));
        }
        out.extend(messages.iter().map(|m| (m.role, m.content.as_str())));
        out
    }

    /// The prompt as parts: turns, then the opening of the assistant's turn.
    pub(crate) fn parts(&self, messages: &[Message]) -> Vec<Part> {
        let mut parts = Vec::new();
        for (role, content) in self.with_default(messages) {
            parts.push(Part::TurnStart);
            parts.push(Part::Text(format!("{}\n{content}", role_name(role))));
            parts.push(Part::TurnEnd);
            parts.push(Part::Text("\n".into()));
        }
        parts.push(Part::TurnStart);
        parts.push(Part::Text("assistant\n".into()));
        parts
    }

    /// The prompt as text, as the Jinja template renders it with `add_generation_prompt`.
    pub fn render(&self, messages: &[Message]) -> String {
        self.parts(messages)
            .into_iter()
            .map(|p| match p {
                Part::TurnStart => TURN_START.to_string(),
                Part::TurnEnd => TURN_END.to_string(),
                Part::Text(t) => t,
            })
            .collect()
    }

    /// The prompt's tokens: turn markers as single special tokens, contents as plain text.
    pub(crate) fn tokens(&self, tokenizer: &Tokenizer, start: u32, end: u32, messages: &[Message]) -> Vec<u32> {
        let mut out = Vec::new();
        for part in self.parts(messages) {
            match part {
                Part::TurnStart => out.push(start),
                Part::TurnEnd => out.push(end),
                Part::Text(t) => out.extend(tokenizer.encode(&t)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_template_renders_chatml_with_its_default_system_message() {
        let t = ChatTemplate::from_jinja(SMOLLM2).unwrap();
        let system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
        assert_eq!(t.default_system.as_deref(), Some(system));
        assert_eq!(
            t.render(&[Message::user("Hi")]),
            format!("<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        );
        assert_eq!(
            t.render(&[Message::system("Be brief."), Message::user("Hi")]),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(t.render(&[]), "<|im_start|>assistant\n");
    }

    #[test]
    fn escaped_newlines_and_other_templates() {
        let escaped = SMOLLM2.replace('\n', "\\n");
        let t = ChatTemplate::from_jinja(&escaped).unwrap();
        assert!(t.default_system.unwrap().starts_with("You are a helpful"));
        assert!(ChatTemplate::from_jinja("{{ bos_token }}[INST] {{ message['content'] }} [/INST]").is_err());
    }
}
