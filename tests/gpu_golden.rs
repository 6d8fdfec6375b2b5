//! The GPU forward pass (lavapipe natively) against the same goldens as the reference: HF fp32
//! for the F16 files, the exact-dequantized reference for quantized files, greedy tokens exact.
//! These run with f32 KV caches, as the goldens were made; the default f16 cache is held to the
//! same goldens with the tolerance its rounding needs (`the_f16_kv_cache_stays_near_the_goldens`).

mod common;

use std::sync::Arc;

use common::golden::{
    check_against_dequant, check_chunking, check_f16_logits_and_decode, check_f16_logits_and_decode_within, Runner,
};
use common::{gguf_path, Golden, SHIPPED};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{GpuContext, GpuModel, KvPrecision, PREFILL_BATCH};
use lfm_webgpu::model::{ModelError, SharedBytes};
use lfm_webgpu::reference::Logits;

/// The prefill step of the long-prompt chunking test.
const STEP: usize = 64;

struct Gpu(GpuModel);

impl Runner for Gpu {
    fn vocab(&self) -> usize {
        self.0.config.vocab_size
    }
    fn run(&self, chunks: &[&[u32]], want: Logits) -> Vec<f32> {
        let n: usize = chunks.iter().map(|c| c.len()).sum();
        let mut s = self.0.new_state(n).unwrap();
        chunks.iter().flat_map(|c| self.0.forward_blocking(&mut s, c, want).unwrap()).collect()
    }
}

fn context() -> Arc<GpuContext> {
    Arc::new(GpuContext::new_blocking().expect("a wgpu adapter (lavapipe in CI)"))
}

/// The model of a fixture file, its states keeping K and V in f32 like the goldens.
fn load(ctx: &Arc<GpuContext>, model: &str, variant: &str) -> Gpu {
    load_with(ctx, model, variant, KvPrecision::F32)
}

fn load_with(ctx: &Arc<GpuContext>, model: &str, variant: &str, kv: KvPrecision) -> Gpu {
    let file = GgufFile::open(gguf_path(model, variant)).unwrap();
    let mut m = GpuModel::new(ctx.clone(), &file.header, &SharedBytes::new(file.shared_bytes())).unwrap();
    m.kv_precision = kv;
    Gpu(m)
}

#[test]
fn f16_fixtures_match_hf_on_the_gpu() {
    let ctx = context();
    for model in ["tiny-moe", "tiny-dense"] {
        check_f16_logits_and_decode(&load(&ctx, model, "f16"), model);
    }
}

/// The default f16 KV cache: half the memory of f32, HF's logits within 1.5e-2 (f16's 2^-11
/// rounding of every K and V; measured on lavapipe, prompt / decode: tiny-moe 6.5e-3 / 3.9e-3,
/// tiny-dense 4.5e-3 / 2.0e-3, against 3e-5 with f32), the same greedy continuation, and
/// chunked prefill still equal to one pass.
#[test]
fn the_f16_kv_cache_stays_near_the_goldens() {
    const TOL: f32 = 1.5e-2;
    let ctx = context();
    for model in ["tiny-moe", "tiny-dense"] {
        let gpu = load_with(&ctx, model, "f16", KvPrecision::F16);
        let kv_bytes = |g: &Gpu| g.0.new_state(8).unwrap().bytes().kv;
        assert_eq!(2 * kv_bytes(&gpu), kv_bytes(&load(&ctx, model, "f16")), "{model}: f16 halves the cache");
        check_f16_logits_and_decode_within(&gpu, model, TOL);
        let prompt = Golden::load(model).ids("prompt_ids");
        check_chunking(&gpu, &format!("{model} f16 (f16 KV)"), &prompt, &[3, 1, 5, 2]);
    }
}

#[test]
fn quantized_fixtures_match_dequant_reference_on_the_gpu() {
    let ctx = context();
    for &(model, variant) in SHIPPED.iter().filter(|(_, v)| *v != "f16") {
        check_against_dequant(&load(&ctx, model, variant), model, variant);
    }
}

/// Prefill in one step, token by token, in uneven chunks, and across the batch limit all
/// agree (the conv state and KV cache carry over between steps).
#[test]
fn gpu_incremental_decode_equals_full_evaluation() {
    let ctx = context();
    for &(model, variant) in &[("tiny-moe", "q8_0"), ("tiny-dense", "f16"), ("small-moe", "q4_k_m")] {
        let prompt = Golden::load(model).ids("prompt_ids");
        check_chunking(&load(&ctx, model, variant), &format!("{model} {variant} (gpu)"), &prompt, &[3, 1, 5, 2]);
    }
    // A prompt longer than one step's batch is split into several steps (of 64 here, to keep
    // the token-by-token run short; then the default steps of 256).
    let mut small_steps = GpuContext::new_blocking().expect("a wgpu adapter");
    small_steps.tuning.prefill_batch = STEP;
    let gpu = load(&Arc::new(small_steps), "tiny-moe", "q4_0");
    let long: Vec<u32> = (0..STEP as u32 * 2 + 7).map(|i| 1 + (i * 7919) % 64000).collect();
    check_chunking(&gpu, "tiny-moe q4_0 long prompt (gpu)", &long, &[STEP + 3, 17]);
    two_steps_match_two_calls(&ctx, "the adapter's tuning");
}

/// A context with the choices a real GPU gets ([`common::gpu::use_gpu_tuning`]), so the GPU
/// path of the forward pass is held to the same goldens in CI.
fn gpu_like_context() -> Arc<GpuContext> {
    let mut ctx = GpuContext::new_blocking().expect("a wgpu adapter (lavapipe in CI)");
    common::gpu::use_gpu_tuning(&mut ctx);
    Arc::new(ctx)
}

#[test]
fn a_gpus_tuning_matches_the_same_goldens() {
    let ctx = gpu_like_context();
    for model in ["tiny-moe", "tiny-dense"] {
        check_f16_logits_and_decode(&load(&ctx, model, "f16"), model);
    }
    for (model, variant) in [("tiny-moe", "q4_0"), ("small-moe", "q4_k_m")] {
        check_against_dequant(&load(&ctx, model, variant), model, variant);
    }
    let prompt = Golden::load("tiny-moe").ids("prompt_ids");
    check_chunking(&load(&ctx, "tiny-moe", "q8_0"), "tiny-moe q8_0 (gpu tuning)", &prompt, &[3, 1, 5, 2]);
    two_steps_match_two_calls(&ctx, "gpu tuning");
}

/// Steps of 256 tokens (`PREFILL_BATCH`, every adapter's default): a prompt of 260 in two
/// steps (256 + 4) against two calls of 130.
fn two_steps_match_two_calls(ctx: &Arc<GpuContext>, tuning: &str) {
    assert_eq!(ctx.tuning.prefill_batch, PREFILL_BATCH);
    let long: Vec<u32> = (0..260).map(|i| 1 + (i * 7919) % 64000).collect();
    let gpu = load(ctx, "tiny-moe", "q4_0");
    let full = gpu.run(&[&long], Logits::All);
    let halves = gpu.run(&[&long[..130], &long[130..]], Logits::All);
    let what = format!("tiny-moe q4_0, 260 tokens in steps of 256 vs 130 + 130 ({tuning})");
    common::assert_close(&what, &halves, &full, 1e-4);
}

#[test]
fn a_gpus_tuning_with_wide_prefill_tiles_matches_the_same_goldens() {
    // `matmul_wide` and `moe_matmul` (off by default until timed on a GPU): the dense and the
    // routed experts' prefill products in 64 x 64 tiles, through the whole model.
    let mut ctx = GpuContext::new_blocking().expect("a wgpu adapter (lavapipe in CI)");
    common::gpu::use_gpu_tuning(&mut ctx);
    (ctx.tuning.matmul_wide, ctx.tuning.moe_matmul) = (true, true);
    let ctx = Arc::new(ctx);
    check_f16_logits_and_decode(&load(&ctx, "tiny-moe", "f16"), "tiny-moe");
    check_against_dequant(&load(&ctx, "small-moe", "q4_k_m"), "small-moe", "q4_k_m");
}

#[test]
fn gpu_context_overflow_and_bad_tokens_are_errors() {
    let ctx = context();
    let Gpu(m) = load(&ctx, "tiny-dense", "q8_0");
    let mut s = m.new_state(8).unwrap();
    let err = m.forward_blocking(&mut s, &[1; 9], Logits::Last).unwrap_err();
    assert!(matches!(err, ModelError::ContextOverflow { needed: 9, limit: 8 }), "{err}");
    m.forward_blocking(&mut s, &[1; 8], Logits::None).unwrap();
    let err = m.forward_blocking(&mut s, &[1], Logits::Last).unwrap_err();
    assert!(matches!(err, ModelError::ContextOverflow { needed: 9, limit: 8 }), "{err}");
    let err = m.forward_blocking(&mut m.new_state(4).unwrap(), &[70_000], Logits::Last).unwrap_err();
    assert!(matches!(err, ModelError::TokenOutOfRange { id: 70_000, .. }), "{err}");
    assert!(m.new_state(m.config.context_length + 1).is_err());
}
