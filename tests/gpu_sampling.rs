//! The repetition penalty on the GPU against the CPU rule, and whole sampled generations on
//! the GPU against the reference backend with the same seeded sampler.

mod common;

use std::sync::Arc;

use common::gpu::{gaussian, ids, run, tensor, validate_with_naga};
use common::{gguf_path, Golden};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::kernels::repetition_penalty;
use lfm_webgpu::gpu::shader::ShaderSpec;
use lfm_webgpu::gpu::{GpuContext, GpuModel};
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::reference::{Logits, ReferenceModel};
use lfm_webgpu::rng::Rng;
use lfm_webgpu::sampling::{apply_repetition_penalty, Sampler, SamplingParams};

#[test]
fn repetition_penalty_matches_the_cpu_rule() {
    validate_with_naga(&ShaderSpec::plain("repetition_penalty"));
    let mut rng = Rng::new(21);
    let (rows, vocab) = (3, 1003);
    let logits = gaussian(&mut rng, rows * vocab, 4.0);
    // Distinct ids, including the first and last of the row and one past the vocabulary.
    let mut tokens: Vec<u32> = vec![0, 1002, 5000];
    while tokens.len() < 77 {
        let t = rng.below(vocab) as u32;
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    for (row, penalty) in [(0, 1.3f32), (2, 0.7)] {
        let x = tensor(rows, vocab, &logits);
        let toks = ids(100, 1, &[tokens.clone(), vec![0; 100 - tokens.len()]].concat());
        let got = run(&x, |ops| repetition_penalty(ops, &x, row, &toks, tokens.len(), penalty).unwrap());
        let mut want = logits.clone();
        apply_repetition_penalty(&mut want[row * vocab..(row + 1) * vocab], &tokens, penalty);
        assert_eq!(got, want, "row {row}, penalty {penalty}");
    }
}

fn models(variant: &str) -> (ReferenceModel, GpuModel) {
    let file = GgufFile::open(gguf_path("tiny-moe", variant)).unwrap();
    let bytes = SharedBytes::new(file.shared_bytes());
    let gpu_ctx = Arc::new(GpuContext::new_blocking().unwrap());
    (ReferenceModel::new(&file.header, &bytes).unwrap(), GpuModel::new(gpu_ctx, &file.header, &bytes).unwrap())
}

/// Sampled continuations with penalties and filters: the GPU (penalty and sampler kernels,
/// only the token id read back) and the reference (CPU sampler over read-back logits) draw
/// from one seeded stream each and must pick the same tokens.
#[test]
fn gpu_sampled_generation_equals_reference() {
    let (reference, gpu) = models("q8_0");
    let prompt = Golden::load("tiny-moe").ids("prompt_ids");
    let settings = [
        SamplingParams { repetition_penalty: 1.5, ..Default::default() },
        SamplingParams { temperature: 0.8, top_k: 40, seed: 7, ..Default::default() },
        SamplingParams {
            temperature: 1.0,
            top_p: 0.9,
            min_p: 0.05,
            repetition_penalty: 1.05,
            seed: 3,
            ..Default::default()
        },
    ];
    let mut runs = Vec::new();
    for params in settings {
        let (mut a, mut b) = (Sampler::new(params.clone()), Sampler::new(params.clone()));
        for &t in &prompt {
            a.accept(t);
            b.accept(t);
        }
        let mut rs = reference.new_state();
        let mut gs = gpu.new_state(prompt.len() + 16).unwrap();
        let mut want = vec![a.sample(&reference.forward(&mut rs, &prompt, Logits::Last).unwrap())];
        let mut got = vec![gpu.forward_sample_blocking(&mut gs, &prompt, &mut b).unwrap()];
        for _ in 0..11 {
            want.push(a.sample(&reference.forward(&mut rs, &want[want.len() - 1..], Logits::Last).unwrap()));
            got.push(gpu.forward_sample_blocking(&mut gs, &got[got.len() - 1..], &mut b).unwrap());
        }
        assert_eq!(got, want, "{params:?}");
        runs.push(got);
    }
    // The penalty changes greedy output on this model (else the test above proves little).
    let mut plain = Sampler::new(SamplingParams::default());
    let mut s = gpu.new_state(prompt.len() + 16).unwrap();
    let mut tokens = vec![gpu.forward_sample_blocking(&mut s, &prompt, &mut plain).unwrap()];
    for _ in 0..11 {
        tokens.push(gpu.forward_sample_blocking(&mut s, &tokens[tokens.len() - 1..], &mut plain).unwrap());
    }
    let golden = Golden::load("tiny-moe").ids("dequant.q8_0.generated_ids");
    assert_eq!(tokens, golden[..12], "unpenalized greedy is the golden continuation");
    assert_ne!(runs[0], tokens, "a repetition penalty of 1.5 changes the greedy continuation");
}
