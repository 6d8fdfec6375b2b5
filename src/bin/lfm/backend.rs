//! Loading a model on the chosen backend and running it behind one interface.

use std::path::Path;
use std::sync::Arc;

use clap::ValueEnum;
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{GpuContext, GpuModel, GpuState};
use lfm_webgpu::model::{Config, ModelError, SharedBytes};
use lfm_webgpu::reference::{Logits, ReferenceModel, State};
use lfm_webgpu::sampling::Sampler;
use lfm_webgpu::tokenizer::Tokenizer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The GPU when an adapter exists, else the reference.
    Auto,
    /// WGSL kernels through wgpu (Vulkan / Metal / DX12).
    Gpu,
    /// Plain f32 Rust, the exact oracle (slow; for checking and small models).
    Reference,
}

pub enum Model {
    Reference(ReferenceModel),
    Gpu(GpuModel),
}

pub enum Sequence {
    Reference(State),
    Gpu(GpuState),
}

pub struct Loaded {
    pub model: Model,
    pub tokenizer: Tokenizer,
}

impl Loaded {
    pub fn open(path: &Path, backend: Backend) -> Result<Loaded, Box<dyn std::error::Error>> {
        let file = GgufFile::open(path)?;
        let bytes = SharedBytes::new(file.shared_bytes());
        let gpu = match backend {
            Backend::Reference => None,
            Backend::Gpu => Some(GpuContext::new_blocking()?),
            Backend::Auto => GpuContext::new_blocking().ok(),
        };
        let model = match gpu {
            Some(ctx) => Model::Gpu(GpuModel::new(Arc::new(ctx), &file.header, &bytes)?),
            None => Model::Reference(ReferenceModel::new(&file.header, &bytes)?),
        };
        let tokenizer = Tokenizer::from_gguf(&file.header)?;
        Ok(Loaded { model, tokenizer })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.model {
            Model::Reference(_) => "reference",
            Model::Gpu(_) => "gpu",
        }
    }
}

impl Model {
    pub fn config(&self) -> &Config {
        match self {
            Model::Reference(m) => &m.config,
            Model::Gpu(m) => &m.config,
        }
    }

    /// A fresh sequence of at most `capacity` tokens.
    pub fn new_sequence(&self, capacity: usize) -> Result<Sequence, ModelError> {
        Ok(match self {
            Model::Reference(m) => Sequence::Reference(m.new_state()),
            Model::Gpu(m) => Sequence::Gpu(m.new_state(capacity.min(m.config.context_length))?),
        })
    }

    /// Feeds `tokens` and picks the next token (on the GPU there, reading back only its id).
    pub fn next_token(&self, seq: &mut Sequence, tokens: &[u32], sampler: &mut Sampler) -> Result<u32, ModelError> {
        match (self, seq) {
            (Model::Reference(m), Sequence::Reference(s)) => Ok(sampler.sample(&m.forward(s, tokens, Logits::Last)?)),
            (Model::Gpu(m), Sequence::Gpu(s)) => m.forward_sample_blocking(s, tokens, sampler),
            _ => unreachable!("a sequence is made by its own model"),
        }
    }

    pub fn forward(&self, seq: &mut Sequence, tokens: &[u32], want: Logits) -> Result<Vec<f32>, ModelError> {
        match (self, seq) {
            (Model::Reference(m), Sequence::Reference(s)) => m.forward(s, tokens, want),
            (Model::Gpu(m), Sequence::Gpu(s)) => m.forward_blocking(s, tokens, want),
            _ => unreachable!("a sequence is made by its own model"),
        }
    }
}
