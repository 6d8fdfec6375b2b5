//! The GPU backend: wgpu device set-up, WGSL kernels (`shaders/`), and weight matrices kept
//! in their quantized GGUF formats on the GPU. Runs natively (Vulkan/Metal/DX12) and in the
//! browser (WebGPU); every kernel computes in f32 (Chromium's fallback adapter has no
//! shader-f16), reading f16 data with `unpack2x16float`.
//!
//! - [`GpuContext`]: device, limits, pipeline cache, readback.
//! - [`Ops`]: records the dispatches of one step into one command encoder.
//! - [`GpuTensor`]: f32/u32 activations; [`GpuMatrix`]: quantized weights, split so no
//!   binding exceeds the device limits ([`layout`] says how).
//! - [`kernels`]: one host function per shader, tested against `crate::reference::ops`.

pub mod bench;
mod bindings;
mod block_io;
mod context;
mod forward;
pub mod kernels;
mod kv_cache;
pub mod layout;
mod matrix;
mod model;
mod ops;
pub mod pairing;
pub mod profile;
mod readback;
mod scratch;
pub mod shader;
mod shader_files;
mod state;
mod tensor;
mod tuning;
mod weight_texture;

pub use context::{ContextOptions, GpuContext, GpuError};
pub use kv_cache::{KvBlock, KvCache, KvPrecision};
pub use matrix::{GpuMatrix, Interleave, MatrixPart, MatrixUpload, WeightStore, W_TEXELS};
pub use model::{GpuModel, PlannedTensor, TensorRole, TensorUpload, Uploaded};
pub use ops::{Ops, OpsCounts};
pub use state::PREFILL_BATCH;
pub use state::{GpuCheckpoint, GpuState, StateBytes};
pub use tensor::GpuTensor;
pub use tuning::Tuning;
pub use weight_texture::TextureCopies;
