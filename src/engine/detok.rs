//! Streaming detokenization: text deltas that never end inside a UTF-8 character.
//!
//! Byte-level BPE splits multi-byte characters across tokens, so decoding token by token
//! would emit replacement characters. The stream re-decodes the tokens since the last
//! character boundary and emits only what has become whole text; special tokens decode to
//! their literal text (`<|tool_call_start|>`), which the tool-call parser consumes.

use crate::tokenizer::{Tokenizer, TokenizerError};

#[derive(Default)]
pub struct TextStream {
    tokens: Vec<u32>,
    /// Tokens before this index have been emitted in full.
    emitted_tokens: usize,
}

impl TextStream {
    pub fn new() -> TextStream {
        TextStream::default()
    }

    /// Adds a token; returns the text that became complete (possibly empty).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> Result<String, TokenizerError> {
        self.tokens.push(id);
        let text = tok.decode(&self.tokens[self.emitted_tokens..], false)?;
        // An incomplete character decodes to U+FFFD at the end: wait for the next token.
        if text.ends_with('\u{FFFD}') && self.tokens.len() - self.emitted_tokens < 8 {
            return Ok(String::new());
        }
        self.emitted_tokens = self.tokens.len();
        Ok(text)
    }

    /// Whatever is still held back (an incomplete character at the very end).
    pub fn finish(&mut self, tok: &Tokenizer) -> Result<String, TokenizerError> {
        let text = tok.decode(&self.tokens[self.emitted_tokens..], false)?;
        self.emitted_tokens = self.tokens.len();
        Ok(text)
    }

    /// All tokens pushed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}
