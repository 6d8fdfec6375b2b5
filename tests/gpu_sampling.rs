//! The sampling kernels against `lfm_webgpu::sampling`: `argmax`, `sample` (every filter, full
//! vocabularies, the top-k search's candidate limits) and the repetition penalty, on seeded
//! random logits; then whole sampled generations on the GPU against the reference backend
//! with the same seeded sampler.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::gpu::{ctx, gaussian, ids, run, submit, tensor, validate_with_naga};
use common::{gguf_path, Golden};
use lfm_webgpu::gguf::GgufFile;
use lfm_webgpu::gpu::kernels::repetition_penalty;
use lfm_webgpu::gpu::shader::ShaderSpec;
use lfm_webgpu::gpu::{kernels, GpuContext, GpuModel, GpuTensor, Ops};
use lfm_webgpu::model::SharedBytes;
use lfm_webgpu::reference::{Logits, ReferenceModel};
use lfm_webgpu::rng::Rng;
use lfm_webgpu::sampling::{self, apply_repetition_penalty, Sampler, SamplingParams};

#[test]
fn sampling_shaders_validate_with_naga() {
    for kernel in ["argmax", "sample", "repetition_penalty"] {
        validate_with_naga(&ShaderSpec::plain(kernel));
    }
}

#[test]
fn repetition_penalty_matches_the_cpu_rule() {
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
        // WGSL leaves a division 2.5 ulp of room (NVIDIA's is off by one ulp where the CPU's
        // is exact): a penalized logit within 3 ulp, every other one untouched.
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let ulps = if *w == logits[i] { 0.0 } else { 3.0 * f32::EPSILON * w.abs() };
            assert!((g - w).abs() <= ulps, "row {row}, penalty {penalty}: logit {i} is {g}, want {w}");
        }
        assert_ne!(got, logits, "row {row}: the penalty changed nothing");
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

// ---------------------------------------------------------------- sampling

/// Records one kernel per (row, out index) and reads the token ids back.
fn tokens(n: usize, record: impl FnOnce(&mut Ops<'_>, &GpuTensor)) -> Vec<u32> {
    let out = ids(n, 1, &vec![u32::MAX; n]);
    submit(|ops| record(ops, &out));
    out.read_u32_blocking(ctx()).unwrap()
}

#[test]
fn argmax_matches_reference() {
    let mut rng = Rng::new(34);
    for v in [1003, 65_536, 128_000] {
        let mut rows = Vec::new();
        let mut plain = gaussian(&mut rng, v, 3.0);
        rows.push(plain.clone());
        // The maximum twice: the lower index wins (planted late, then early).
        let (a, b) = (v / 3 + rng.below(v / 3), 2 * v / 3 + rng.below(v / 3));
        plain[b] = 50.0;
        plain[a] = 50.0;
        rows.push(plain.clone());
        plain[v - 1] = 60.0; // at the very end
        rows.push(plain);
        rows.push(vec![-2.5; v]); // all equal: 0
        let flat: Vec<f32> = rows.concat();
        let logits = tensor(rows.len(), v, &flat);
        let start = Instant::now();
        let got = tokens(rows.len(), |ops, out| {
            for r in 0..rows.len() {
                kernels::argmax(ops, &logits, r, out, r).unwrap();
            }
        });
        let elapsed = start.elapsed();
        let want: Vec<u32> = rows.iter().map(|r| sampling::argmax(r)).collect();
        assert_eq!(got, want, "argmax V={v}");
        assert_eq!(want[1], a as u32);
        eprintln!("argmax V={v}: {} rows in {elapsed:.2?}", rows.len());
    }
}

/// Logits rows of `v` values: gaussian, or rounded to quarters so that many values tie.
fn logit_rows(rng: &mut Rng, rows: usize, v: usize) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|r| {
            let row = gaussian(rng, v, 2.0 + r as f32 % 3.0);
            if r % 2 == 1 {
                row.iter().map(|x| (x * 4.0).round() / 4.0).collect()
            } else {
                row
            }
        })
        .collect()
}

/// GPU and CPU tokens for `draws` of (row, params), with the time each took: the GPU gets
/// each draw's uniform number from a `Sampler` with the params' seed (one submit for all
/// draws); the CPU reference is a twin `Sampler::sample`.
fn gpu_vs_cpu(rows: &[Vec<f32>], draws: &[(usize, SamplingParams)]) -> (Vec<u32>, Vec<u32>, Duration, Duration) {
    let v = rows[0].len();
    let logits = tensor(rows.len(), v, &rows.concat());
    let start = Instant::now();
    let got = tokens(draws.len(), |ops, out| {
        for (i, (r, p)) in draws.iter().enumerate() {
            let u = Sampler::new(p.clone()).draw().unwrap_or(0.0);
            kernels::sample(ops, &logits, *r, p, u, out, i).unwrap();
        }
    });
    let gpu = start.elapsed();
    let start = Instant::now();
    let want = draws.iter().map(|(r, p)| Sampler::new(p.clone()).sample(&rows[*r])).collect();
    (got, want, gpu, start.elapsed())
}

#[test]
fn sample_matches_the_cpu_sampler() {
    let mut rng = Rng::new(35);
    let rows = logit_rows(&mut rng, 8, 1003);
    let mut draws = Vec::new();
    let mut seed = 0;
    // Temperature 0 and top_k 1 are greedy: exactly argmax.
    for temperature in [0.0, 0.2, 0.7, 1.0, 1.5] {
        for top_k in [0, 1, 40, 80] {
            for top_p in [1.0, 0.9, 0.5] {
                for min_p in [0.0, 0.05] {
                    for _ in 0..8 {
                        seed += 1;
                        let p = SamplingParams { temperature, top_k, top_p, min_p, seed, ..Default::default() };
                        draws.push((rng.below(rows.len()), p));
                    }
                }
            }
        }
    }
    let (got, want, gpu, cpu) = gpu_vs_cpu(&rows, &draws);
    let mut same = 0;
    for (i, ((r, p), (g, w))) in draws.iter().zip(got.iter().zip(&want)).enumerate() {
        if g == w {
            same += 1;
        } else {
            eprintln!("draw {i} (row {r}, {p:?}): gpu {g} vs cpu {w}");
        }
        if p.is_greedy() {
            assert_eq!(*g, sampling::argmax(&rows[*r]), "draw {i}: greedy is argmax");
        }
    }
    // Different draws do pick different tokens (the filters do not collapse to greedy).
    let distinct: std::collections::BTreeSet<u32> = want.iter().copied().collect();
    assert!(distinct.len() > 20, "only {} distinct tokens", distinct.len());
    eprintln!("sample V=1003: gpu == cpu in {same} of {} draws (gpu {gpu:.2?}, cpu {cpu:.2?})", draws.len());
    assert!(same * 100 >= draws.len() * 99, "gpu == cpu in only {same} of {} draws", draws.len());
}

#[test]
fn sample_matches_the_cpu_sampler_on_full_vocabularies() {
    let mut rng = Rng::new(36);
    for v in [65_536, 128_000] {
        let rows = logit_rows(&mut rng, 2, v);
        let params = [
            SamplingParams { temperature: 0.2, top_k: 80, top_p: 1.0, min_p: 0.0, seed: 1, ..Default::default() },
            SamplingParams { temperature: 1.0, top_k: 0, top_p: 0.9, min_p: 0.0, seed: 2, ..Default::default() },
            SamplingParams { temperature: 1.5, top_k: 40, top_p: 0.5, min_p: 0.05, seed: 3, ..Default::default() },
            SamplingParams { temperature: 0.7, top_k: 0, top_p: 1.0, min_p: 0.05, seed: 4, ..Default::default() },
            SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 5, ..Default::default() },
            SamplingParams { temperature: 0.0, seed: 6, ..Default::default() },
        ];
        for (i, p) in params.iter().enumerate() {
            let draws: Vec<(usize, SamplingParams)> = (0..2).map(|r| (r, p.clone())).collect();
            let (got, want, gpu, cpu) = gpu_vs_cpu(&rows, &draws);
            eprintln!("sample V={v} {p:?}, 2 draws: gpu {gpu:.2?}, cpu {cpu:.2?}");
            assert_eq!(got, want, "V={v} params {i}");
        }
    }
}

#[test]
fn sample_matches_the_cpu_sampler_past_the_candidate_limits() {
    // The GPU's top-k search holds the keys above a bound in workgroup memory (2048 of them)
    // when top_k <= 256, else it reads the row: a row with 3000 tokens tied at the top (more
    // candidates than fit), and top_k of 300 (no bound), against a plain gaussian row.
    let mut rng = Rng::new(37);
    let v = 20_000;
    let plain = gaussian(&mut rng, v, 2.0);
    let mut tied = gaussian(&mut rng, v, 1.0);
    for i in 0..3000 {
        tied[(i * 7) % v] = 9.0;
    }
    let rows = [plain, tied];
    let mut draws = Vec::new();
    for (seed, top_k) in [40, 256, 257, 300, 5000].into_iter().enumerate() {
        for r in 0..rows.len() {
            let p = SamplingParams { temperature: 0.9, top_k, seed: seed as u64 + 10 * r as u64, ..Default::default() };
            draws.push((r, p));
        }
    }
    let (got, want, ..) = gpu_vs_cpu(&rows, &draws);
    assert_eq!(got, want, "draws {draws:?}");
}
