//! Chat: conversations to prompt text (and, from the model's output, tool calls).

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod template;
pub mod tool_calls;
