//! The generation engine: conversations in, streamed text and tool calls out.
//!
//! A [`Session`] owns one conversation's model state. Each [`Session::generate`] renders the
//! messages with the model's own chat template, reuses every token the state already holds
//! (a follow-up turn prefills only what is new), samples on the backend, and streams
//! [`Event`]s: text deltas that never split a character, parsed tool calls, and a final
//! [`Done`] with the finish reason, token counts and timings.

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod detok;
mod loop_guard;
mod session;
mod stop;

pub use backend::{Backend, SavedState, Sequence};
pub use detok::TextStream;
pub use loop_guard::LoopGuard;
pub use session::{Cancel, Session};
pub use stop::{StopMatcher, StopResult};

use serde::Serialize;
use serde_json::Value;

use crate::chat::template::TemplateError;
use crate::chat::tool_calls::ToolFormat;
use crate::model::ModelError;
use crate::sampling::SamplingParams;
use crate::tokenizer::TokenizerError;

/// One generation request, OpenAI-shaped where it can be.
#[derive(Clone, Debug)]
pub struct Request {
    /// `{role, content, tool_calls?, tool_call_id?, ...}` objects: system, user, assistant, tool.
    pub messages: Vec<Value>,
    /// JSON-schema tool descriptions (`{"type": "function", "function": {...}}`).
    pub tools: Vec<Value>,
    pub sampling: SamplingParams,
    /// Most tokens to generate; `None`: until the context is full.
    pub max_tokens: Option<usize>,
    /// Generation stops before any of these strings (which are not shown).
    pub stop: Vec<String>,
    pub tool_format: ToolFormat,
    pub loop_guard: LoopGuard,
    /// Text the answer starts with, as if the model had written it: it streams and parses
    /// like generated text and the model continues after it (an answer prefix; tests use it
    /// to make a small model "call" a tool).
    pub forced_output: Option<String>,
}

impl Default for Request {
    /// The model card's recommended sampling: temperature 0.2, top-k 80, repetition penalty 1.05.
    fn default() -> Self {
        Request {
            messages: Vec::new(),
            tools: Vec::new(),
            sampling: SamplingParams { temperature: 0.2, top_k: 80, repetition_penalty: 1.05, ..Default::default() },
            max_tokens: None,
            stop: Vec::new(),
            tool_format: ToolFormat::Auto,
            loop_guard: LoopGuard::default(),
            forced_output: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Visible text, in order; concatenated they are the answer without its tool calls.
    Text {
        delta: String,
    },
    /// A complete tool call; `arguments` is a JSON object.
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    /// Something the user may want to know that did not stop generation (a tool call that
    /// could not be parsed and was shown as text instead).
    Warning {
        message: String,
    },
    Done(Done),
    Error {
        message: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn, or a stop string appeared.
    Stop,
    /// `max_tokens` or the context was reached.
    Length,
    /// The model ended its turn after calling tools.
    ToolCalls,
    /// Cancelled through the [`Cancel`] handle.
    Abort,
    /// The output started repeating itself ([`LoopGuard`]).
    Loop,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Of those, already in the state from earlier turns (not evaluated again).
    pub cached_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Done {
    pub finish_reason: FinishReason,
    pub usage: Usage,
    pub timings: Timings,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("the conversation is {needed} tokens long, more than the {limit}-token context: start a new chat or remove old messages")]
    ContextOverflow { needed: usize, limit: usize },
}
