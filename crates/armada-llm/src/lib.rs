//! LLM agents as Armada policies.
//!
//! An LLM agent is a [`armada`] policy like any other: it runs in the same harness, on the same
//! environments and seeds, and is measured by the same metrics. This crate holds what the core
//! must not carry (network, model runtimes): the chat types and the [`chat::Provider`] contract,
//! the OpenAI-compatible HTTP provider, the in-process local model, the response cache, and
//! the agent itself (scenarios, context layers, answer parsing, distillation data).

pub mod agent;
pub mod cache;
pub mod chat;
pub mod client;
pub mod config;
pub mod demos;
pub mod fake_server;
pub mod local;
pub mod openai;
pub mod parse;
pub mod prompt;
pub mod scenario;
