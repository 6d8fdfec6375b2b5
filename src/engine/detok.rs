//! Streaming detokenization: text deltas that never end inside a UTF-8 character.
//!
//! Byte-level BPE splits multi-byte characters across tokens, so decoding token by token
//! would emit replacement characters. The stream re-decodes the tokens since the last
//! character boundary and emits only what has become whole text; special tokens decode to
//! their literal text (`<|tool_call_start|>`), which the tool-call parser consumes.
//!
//! The deltas and [`TextStream::finish`] add up to decoding all the tokens at once, invalid
//! bytes included (an unfinished character at the very end is U+FFFD in both). The one
//! exception needs [`MAX_PENDING`] tokens in a row with no character boundary between any two,
//! which the LFM2 vocabulary cannot produce (no token both starts inside a character and ends
//! inside the next one, so at most 3 boundaries in a row fall inside characters).

use crate::tokenizer::{Tokenizer, TokenizerError};

/// The most tokens held back waiting for a character boundary: bounds the re-decoding work
/// for a vocabulary whose tokens can chain characters without a boundary.
const MAX_PENDING: usize = 32;

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
        let pending = &self.tokens[self.emitted_tokens..];
        let text = tok.decode(pending, false)?;
        // An incomplete character decodes to U+FFFD at the end (so do invalid bytes and a real
        // U+FFFD, which no later token changes): emit up to the last token boundary that is
        // also a character boundary, and wait for more tokens to finish the rest.
        if text.ends_with('\u{FFFD}') && pending.len() < MAX_PENDING {
            // Only the newest boundary can be one: every older one in `pending` was checked
            // when its next token came (whether a character spans it never changes after that).
            let split = pending.len() - 1;
            if split > 0 {
                let head = tok.decode(&pending[..split], false)?;
                // The halves decoded apart give the same text only when no character spans
                // the split: a character cut there would decode to U+FFFD twice.
                if text.strip_prefix(head.as_str()) == Some(tok.decode(&pending[split..], false)?.as_str()) {
                    self.emitted_tokens += split;
                    return Ok(head);
                }
            }
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
