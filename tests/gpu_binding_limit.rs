//! A device whose storage-binding limit is far below the model's largest tensors (the browser's
//! `maxBindingBytes` option, as on mobile GPUs): every weight matrix larger than the limit is
//! split across buffers, the KV cache and scratch stay within it, and the model still gives
//! the golden greedy tokens. The device itself is requested with the lowered limit, so wgpu's
//! validation would reject any binding over it.

mod common;

use std::sync::Arc;

use common::{assert_close, gguf_path, Golden};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::{ContextOptions, GpuContext, GpuError, GpuModel, KvPrecision};
use lfm_webgpu::model::{ModelError, SharedBytes};
use lfm_webgpu::reference::Logits;
use lfm_webgpu::sampling::{argmax, Sampler, SamplingParams};

/// Below tiny-moe's embedding / LM head (65536 x 64 Q8_0: 4.25 MiB) and its stacked expert
/// tensors, above its largest unsplittable buffer (the (1, 65536) f32 logits: 256 KiB).
const LIMIT: u64 = 256 << 10;

fn context(limit: u64) -> Arc<GpuContext> {
    let options = ContextOptions { max_binding_bytes: Some(limit), ..Default::default() };
    Arc::new(GpuContext::with_options_blocking(options).expect("a wgpu adapter (lavapipe in CI)"))
}

/// tiny-moe, its states keeping K and V in f32 like the goldens compared with.
fn load(ctx: &Arc<GpuContext>, variant: &str) -> Result<GpuModel, ModelError> {
    let file = GgufFile::open(gguf_path("tiny-moe", variant)).unwrap();
    let mut m = GpuModel::new(ctx.clone(), &file.header, &SharedBytes::new(file.shared_bytes()))?;
    m.kv_precision = KvPrecision::F32;
    Ok(m)
}

#[test]
fn a_lowered_binding_limit_is_requested_and_planned_with() {
    let ctx = context(LIMIT + 3);
    assert_eq!(ctx.max_binding_bytes(), LIMIT, "rounded down to whole words");
    assert_eq!(ctx.limits.max_storage_buffer_binding_size, LIMIT, "the device enforces it");
    let default = GpuContext::new_blocking().unwrap();
    assert!(default.max_binding_bytes() > LIMIT);
    assert!(default.lost().is_none());
}

/// What the browser runs (last-position logits, GPU sampling) matches the exact-dequantized
/// reference. (All-position logits are (tokens, vocab) in one binding: over this limit for any
/// prompt of more than one token, so `common::golden::check_against_dequant` cannot run here.)
#[test]
fn tiny_moe_split_under_a_small_binding_limit_gives_the_golden_tokens() {
    check_split_model(context(LIMIT));
}

/// The same with a GPU's choices: split in_proj and expert stacks take the fused norms'
/// fallbacks (a normed `matvec` then `short_conv`; experts summed and added without
/// `moe_down_add`).
#[test]
fn tiny_moe_split_with_a_gpus_tuning_gives_the_golden_tokens() {
    let options = ContextOptions { max_binding_bytes: Some(LIMIT), ..Default::default() };
    let mut ctx = GpuContext::with_options_blocking(options).expect("a wgpu adapter (lavapipe in CI)");
    common::gpu::use_gpu_tuning(&mut ctx);
    check_split_model(Arc::new(ctx));
}

fn check_split_model(ctx: Arc<GpuContext>) {
    let file = GgufFile::open(gguf_path("tiny-moe", "q8_0")).unwrap();
    let embd = file.header.tensor_range(file.header.tensor("token_embd.weight").unwrap());
    assert!(embd.end - embd.start > 16 * LIMIT, "the embedding must need splitting");

    // Any binding over the limit would be a wgpu validation error (a panic natively).
    let m = load(&ctx, "q8_0").unwrap();
    let g = Golden::load("tiny-moe");
    let prompt = g.ids("prompt_ids");
    let want = g.ids("dequant.q8_0.generated_ids");

    let mut state = m.new_state(prompt.len()).unwrap();
    let last = m.forward_blocking(&mut state, &prompt, Logits::Last).unwrap();
    assert_close("last-position logits", &last, &g.f32("dequant.q8_0.last_logits").1, 2e-3);

    // Greedy decoding by logits read back, and sampled on the GPU (the browser's generate).
    let mut state = m.new_state(prompt.len() + want.len()).unwrap();
    let mut by_logits = vec![argmax(&m.forward_blocking(&mut state, &prompt, Logits::Last).unwrap())];
    while by_logits.len() < want.len() {
        let next = [*by_logits.last().unwrap()];
        by_logits.push(argmax(&m.forward_blocking(&mut state, &next, Logits::Last).unwrap()));
    }
    assert_eq!(by_logits, want, "greedy tokens (argmax of read-back logits) under a {LIMIT}-byte binding limit");

    let mut state = m.new_state(prompt.len() + want.len()).unwrap();
    let mut sampler = Sampler::new(SamplingParams::default());
    let mut sampled = vec![m.forward_sample_blocking(&mut state, &prompt, &mut sampler).unwrap()];
    while sampled.len() < want.len() {
        let next = [*sampled.last().unwrap()];
        sampled.push(m.forward_sample_blocking(&mut state, &next, &mut sampler).unwrap());
    }
    assert_eq!(sampled, want, "greedy tokens sampled on the GPU under a {LIMIT}-byte binding limit");
}

#[test]
fn a_limit_below_an_unsplittable_buffer_is_a_clear_error() {
    // The logits row (65536 f32) cannot be split.
    let ctx = context(LIMIT / 2);
    let err = load(&ctx, "q8_0").and_then(|m| m.new_state(8).map(|_| ())).unwrap_err();
    assert!(matches!(err, ModelError::Gpu(GpuError::BindingTooLarge { limit, .. }) if limit == LIMIT / 2), "{err}");
}

/// A buffer the device cannot hold, asked for in the middle of a conversation (logits of every
/// position: (tokens, vocab) f32 in one binding, over the limit for more than one token): a
/// typed error before anything is submitted, the state untouched, and the same model and state
/// go on to give the golden tokens.
#[test]
fn a_buffer_over_the_device_limit_is_a_typed_error_and_the_model_goes_on() {
    let ctx = context(LIMIT);
    let m = load(&ctx, "q8_0").unwrap();
    let g = Golden::load("tiny-moe");
    let (prompt, want) = (g.ids("prompt_ids"), g.ids("dequant.q8_0.generated_ids"));
    let mut state = m.new_state(prompt.len() + 4).unwrap();

    let err = m.forward_blocking(&mut state, &prompt, Logits::All).unwrap_err();
    assert!(
        matches!(&err, ModelError::Gpu(GpuError::BindingTooLarge { what, limit, .. }) if what.contains("logits") && *limit == LIMIT),
        "{err}"
    );
    assert_eq!(state.pos, 0, "the failed step must not count");
    assert!(ctx.lost().is_none());

    let mut sampler = Sampler::new(SamplingParams::default());
    let mut got = vec![m.forward_sample_blocking(&mut state, &prompt, &mut sampler).unwrap()];
    while got.len() < 4 {
        let next = [*got.last().unwrap()];
        got.push(m.forward_sample_blocking(&mut state, &next, &mut sampler).unwrap());
    }
    assert_eq!(got, want[..4], "greedy tokens after the failed allocation");
}

#[test]
fn an_error_wgpu_reports_outside_a_scope_is_a_typed_error_not_a_panic() {
    // wgpu's default handler panics on an error no scope catches (natively: out of memory,
    // or an invalid operation). The context keeps it instead, and the next readback or load
    // returns it as GpuError::Device; the model goes on afterwards. A buffer over the device's
    // size limit stands in for an allocation that runs out of memory.
    let ctx = context(LIMIT);
    let m = load(&ctx, "q8_0").unwrap();
    let too_big = ctx.limits.max_buffer_size.saturating_add(4);
    let _void = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("too big"),
        size: too_big,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let g = Golden::load("tiny-moe");
    let (prompt, want) = (g.ids("prompt_ids"), g.ids("dequant.q8_0.generated_ids"));
    let err = match m.new_state(prompt.len() + 4) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the recorded error comes out of the next state's allocation"),
    };
    assert!(err.contains("GPU reported an error"), "{err}");
    let mut state = m.new_state(prompt.len() + 4).unwrap();
    let mut sampler = Sampler::new(SamplingParams::default());
    let first = m.forward_sample_blocking(&mut state, &prompt, &mut sampler).unwrap();
    assert_eq!(first, want[0], "the first greedy token after the error");
}
