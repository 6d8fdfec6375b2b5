//! Chat: conversations to prompt text (and, from the model's output, tool calls).

pub mod template;
pub mod tool_calls;
