//! lfm-webgpu: Liquid AI's LFM2 / LFM2.5 models (dense `lfm2` and MoE `lfm2moe`) from GGUF
//! files, on the user's own device.

pub mod chat;
pub mod engine;
pub mod gguf;
pub mod gpu;
pub mod model;
pub mod quant;
pub mod reference;
pub mod rng;
pub mod sampling;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;
