//! Loading a model on the chosen backend: the engine's [`Backend`] and the tokenizer of one
//! GGUF file, with a progress bar while the weights go to the GPU.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use lfm_webgpu::engine::Backend;
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{GpuContext, GpuModel, KvPrecision};
use lfm_webgpu::model::{HostTensor, SharedBytes};
use lfm_webgpu::reference::ReferenceModel;
use lfm_webgpu::tokenizer::Tokenizer;

use crate::info::human_bytes;
use crate::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The GPU when an adapter exists, else the reference.
    Auto,
    /// WGSL kernels through wgpu (Vulkan / Metal / DX12).
    Gpu,
    /// Plain f32 Rust, the exact oracle (slow; for checking and small models).
    Reference,
}

/// How the GPU's KV cache keeps K and V (`--kv-cache`; the reference keeps f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KvCacheChoice {
    /// Half the memory and the long-context reads of f32; logits within ~1e-2 of it.
    F16,
    /// Exact (matches the Hugging Face goldens to 1e-3).
    F32,
}

impl From<KvCacheChoice> for KvPrecision {
    fn from(c: KvCacheChoice) -> KvPrecision {
        match c {
            KvCacheChoice::F16 => KvPrecision::F16,
            KvCacheChoice::F32 => KvPrecision::F32,
        }
    }
}

pub struct Loaded {
    pub path: PathBuf,
    pub backend: Arc<Backend>,
    pub tokenizer: Arc<Tokenizer>,
    /// What the model runs on, for people: "gpu (llvmpipe, Vulkan)" or "reference".
    pub device: String,
}

/// Loads `path` on `choice` (a GPU model's states keeping K and V as `kv` says). With
/// `report`, shows a bar (on a terminal) while the weights upload and prints the load time to
/// stderr.
pub fn load(path: &Path, choice: BackendChoice, kv: KvCacheChoice, report: bool) -> Result<Loaded> {
    load_file(path, &GgufFile::open(path)?, choice, kv, report)
}

/// [`load`] of a file already open (`path` names it in messages).
pub fn load_file(
    path: &Path,
    file: &GgufFile,
    choice: BackendChoice,
    kv: KvCacheChoice,
    report: bool,
) -> Result<Loaded> {
    let started = Instant::now();
    let tokenizer = Tokenizer::from_gguf(&file.header)?;
    let bytes = SharedBytes::new(file.shared_bytes());
    let gpu = match choice {
        BackendChoice::Reference => None,
        BackendChoice::Gpu => Some(GpuContext::new_blocking()?),
        BackendChoice::Auto => GpuContext::new_blocking().ok(),
    };
    let (backend, device, weight_bytes) = match gpu {
        Some(ctx) => {
            let info = &ctx.adapter_info;
            let device = format!("gpu ({}, {:?})", info.name, info.backend);
            let plan = GpuModel::upload_plan(&file.header)?;
            let bar = upload_bar(plan.iter().map(|t| t.info.n_bytes()).sum(), report);
            let model = GpuModel::load(Arc::new(ctx), &file.header, |info| {
                let tensor = HostTensor::from_file(&file.header, &bytes, info);
                bar.inc(info.n_bytes());
                tensor
            });
            bar.finish_and_clear();
            let mut model = model?;
            model.kv_precision = kv.into();
            let weight_bytes = model.weight_bytes;
            (Backend::Gpu(model), device, weight_bytes)
        }
        None => {
            let model = ReferenceModel::new(&file.header, &bytes)?;
            let weight_bytes = file.header.tensors.iter().map(|t| t.n_bytes()).sum();
            (Backend::Reference(model), "reference (CPU)".to_string(), weight_bytes)
        }
    };
    if report {
        eprintln!(
            "loaded {} ({} of weights) on {device} in {:.1} s",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            human_bytes(weight_bytes),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(Loaded { path: path.to_path_buf(), backend: Arc::new(backend), tokenizer: Arc::new(tokenizer), device })
}

/// A byte bar on stderr (drawn only on a terminal), hidden unless `show`.
fn upload_bar(total: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("uploading weights [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ({eta})")
            .expect("valid template")
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}
