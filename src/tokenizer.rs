//! Text <-> token ids for LFM2 models: byte-level BPE on top of Hugging Face `tokenizers`
//! (fancy-regex backend, so the same code runs natively and on wasm32).
//!
//! Two sources give the same tokenizer:
//! - [`Tokenizer::from_gguf`]: the `tokenizer.ggml.*` metadata of a GGUF header (the usual path;
//!   only the header is needed, so it works on a streamed prefix in the browser).
//! - [`Tokenizer::from_json_bytes`]: a Hugging Face `tokenizer.json`.
//!
//! Special-token text such as `<|im_start|>` is always parsed as the special token, as
//! llama.cpp does with `special = true` and as `tokenizers` does by default: tokenize a rendered
//! chat template as a whole, without adding another BOS (the templates write it).

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod from_gguf;

use crate::gguf::{Gguf, GgufError};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TokenizerError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("tokenizer.ggml.model is `{0}`; only `gpt2` (byte-level BPE) is supported")]
    UnsupportedModel(String),
    #[error("tokenizer.ggml.pre is `{0}`; supported pre-tokenizers: {list}", list = from_gguf::SUPPORTED_PRE.join(", "))]
    UnsupportedPre(String),
    #[error("the vocabulary is empty or has more than 2^32 tokens ({0})")]
    BadVocabSize(usize),
    #[error("`{key}` has {len} entries but tokenizer.ggml.tokens has {n_tokens}")]
    LengthMismatch { key: &'static str, len: usize, n_tokens: usize },
    #[error("token {id} has unknown token type {ty} (expected 1..=6)")]
    BadTokenType { id: u32, ty: i64 },
    #[error("token {id} {token:?} is a duplicate of token {first}")]
    DuplicateToken { id: u32, first: u32, token: String },
    #[error("merge {index} {merge:?} is malformed: expected two tokens separated by one space")]
    MalformedMerge { index: usize, merge: String },
    #[error("merge {index} {merge:?}: {token:?} is not in the vocabulary")]
    MergeNotInVocab { index: usize, merge: String, token: String },
    #[error("`{key}` is {id}, out of range for a vocabulary of {n_vocab} tokens")]
    SpecialIdOutOfRange { key: &'static str, id: u64, n_vocab: usize },
    #[error("`{key}` is true but the tokenizer has no `{id_key}`")]
    MissingSpecialId { key: &'static str, id_key: &'static str },
    #[error("token id {id} is out of range for a vocabulary of {n_vocab} tokens")]
    IdOutOfRange { id: u32, n_vocab: usize },
    #[error("invalid tokenizer.json: {0}")]
    Json(String),
    /// `tokenizers` rejected a tokenizer we assembled (a bug here or very odd metadata).
    #[error("could not build the tokenizer: {0}")]
    Build(String),
    #[error("encoding failed: {0}")]
    Encode(String),
    #[error("decoding failed: {0}")]
    Decode(String),
    #[error("I/O error reading {path}: {message}")]
    Io { path: String, message: String },
}

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// Produced by BPE merges.
    Normal,
    /// Treated like a control token.
    Unknown,
    /// Special added token (`<|im_start|>`): matched in text, skipped by `decode(.., true)`.
    Control,
    /// Non-special added token: matched anywhere in text (`python` in `cpython`), always decoded.
    UserDefined,
    /// Never produced (`[PAD64400]`); kept in the vocabulary only so ids stay dense.
    Unused,
    /// Byte token (SentencePiece byte fallback); a plain vocabulary entry for byte-level BPE.
    Byte,
}

impl TokenType {
    pub fn from_gguf(ty: i64) -> Option<TokenType> {
        Some(match ty {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }
}

/// Ids of the special tokens the runtime needs, and whether `encode(.., true)` adds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SpecialIds {
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
}

#[derive(Clone, Debug)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// One past the largest id (model vocabulary and added tokens).
    vocab_size: usize,
    /// By id: a special (control) added token.
    special: Vec<bool>,
    ids: SpecialIds,
}

impl Tokenizer {
    /// Builds the tokenizer from a GGUF header's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
        from_gguf::build(g)
    }

    /// Loads a Hugging Face `tokenizer.json`. BOS and `add_bos` are read off the post-processor
    /// (what `encode(.., true)` adds); a tokenizer.json does not name an EOS token, so
    /// [`Tokenizer::eos_id`] is `None` until [`Tokenizer::with_eos_id`] sets it.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Tokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| TokenizerError::Json(e.to_string()))?;
        let mut t = Tokenizer::assemble(inner, SpecialIds::default());
        let (prefix, suffix) = t.added_by_post_processor();
        t.ids = SpecialIds {
            bos: prefix.first().copied(),
            eos: None,
            pad: None,
            add_bos: !prefix.is_empty(),
            add_eos: !suffix.is_empty(),
        };
        Ok(t)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_json_file(path: impl AsRef<std::path::Path>) -> Result<Tokenizer, TokenizerError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| TokenizerError::Io { path: path.display().to_string(), message: e.to_string() })?;
        Tokenizer::from_json_bytes(&bytes)
    }

    /// Sets the EOS id (for tokenizers loaded from a `tokenizer.json`).
    pub fn with_eos_id(mut self, id: u32) -> Result<Tokenizer, TokenizerError> {
        if id as usize >= self.vocab_size {
            return Err(TokenizerError::SpecialIdOutOfRange { key: "eos", id: id.into(), n_vocab: self.vocab_size });
        }
        self.ids.eos = Some(id);
        Ok(self)
    }

    /// Wraps a finished `tokenizers::Tokenizer`: precomputes the vocabulary size and which ids
    /// are special.
    fn assemble(inner: tokenizers::Tokenizer, ids: SpecialIds) -> Tokenizer {
        let added = inner.get_added_tokens_decoder();
        let max_added = added.keys().map(|&id| id as usize + 1).max().unwrap_or(0);
        let vocab_size = inner.get_vocab_size(false).max(max_added);
        let mut special = vec![false; vocab_size];
        for (id, token) in &added {
            special[*id as usize] = token.special;
        }
        Tokenizer { inner, vocab_size, special, ids }
    }

    /// The ids the post-processor puts before and after a sequence, e.g. `([BOS], [])`.
    fn added_by_post_processor(&self) -> (Vec<u32>, Vec<u32>) {
        let (Ok(with), Ok(without)) = (self.encode("a", true), self.encode("a", false)) else {
            return (vec![], vec![]);
        };
        let n = without.len();
        match (0..=with.len().saturating_sub(n)).find(|&p| with.get(p..p + n) == Some(&without[..])) {
            Some(p) => (with[..p].to_vec(), with[p + n..].to_vec()),
            None => (vec![], vec![]),
        }
    }

    /// Token ids of `text`. Special-token text is always parsed as the special token;
    /// `add_special` adds BOS (and EOS) as the model asks (`add_bos_token` / `add_eos_token`).
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let enc = self.inner.encode_fast(text, add_special).map_err(|e| TokenizerError::Encode(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`; `skip_special` drops special (control) tokens. Bytes that do not form
    /// valid UTF-8 (a character cut between tokens) become U+FFFD.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size) {
            return Err(TokenizerError::IdOutOfRange { id, n_vocab: self.vocab_size });
        }
        self.inner.decode(ids, skip_special).map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    /// The raw token string (byte-level form: `Ġworld` for " world").
    pub fn token_to_piece(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a raw token string (`<|im_end|>`, `Ġworld`).
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// One past the largest token id (65,536 for LFM2 GGUFs, whose tail is `[PADi]` tokens).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// A special (control) token: matched in text, dropped by `decode(.., true)`.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.ids.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.ids.eos
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.ids.pad
    }

    /// Whether `encode(.., true)` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.ids.add_bos
    }

    /// Whether `encode(.., true)` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.ids.add_eos
    }
}
