//! What a model *is*, independent of where it runs: hyperparameters ([`Config`]) and the
//! tensor tree ([`Weights`]), both read from GGUF and checked before any compute.

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod host;
pub mod weights;

pub use config::{Arch, Config, LayerKind, MoeConfig};
pub use host::{HostTensor, SharedBytes};
pub use weights::{Attn, Conv, Ffn, Layer, Mixer, Mlp, Moe, Weights};

use crate::gguf::GgufError;
use crate::quant::{GgmlType, QuantError};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Quant(#[from] QuantError),
    #[error("unsupported architecture `{0}` (supported: lfm2, lfm2moe)")]
    UnsupportedArch(String),
    #[error("invalid model config: {0}")]
    BadConfig(String),
    #[error("tensor `{tensor}` has shape {found:?}, expected {expected:?} (GGUF ne order)")]
    WrongShape { tensor: String, expected: Vec<u64>, found: Vec<u64> },
    #[error("tensor `{tensor}` has type {ty}, which this runtime cannot compute with")]
    UnsupportedType { tensor: String, ty: GgmlType },
    #[error("context overflow: {needed} tokens do not fit the {limit}-token context")]
    ContextOverflow { needed: usize, limit: usize },
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error("cannot return to a checkpoint at position {at} from position {pos} of another or shorter sequence")]
    BadCheckpoint { at: usize, pos: usize },
    #[error("this state belongs to another model or backend")]
    ForeignState,
    #[error("no tokens to evaluate")]
    EmptyInput,
    #[error("token id {id} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange { id: u32, vocab: usize },
}
