//! The reference backend against the golden outputs of Hugging Face transformers (fp32) and
//! the exact-dequantized reference, on every fixture GGUF. Tolerances are those of
//! `../shared/fixtures/README.md`.

mod common;

use common::{assert_close, assert_close_rel, greedy, open, Golden, Rng, SHIPPED};
use lfm_webgpu::reference::{Logits, Trace};

/// F16 files hold exactly the HF weights: every prompt logit within 1e-3 of HF fp32, hidden
/// states within 1e-4 * (1 + |v|), routing identical.
fn check_f16_against_hf(model: &str) {
    let (_, m) = open(model, "f16");
    let g = Golden::load(model);
    let prompt = g.ids("prompt_ids");
    let vocab = m.config.vocab_size;

    let mut trace = Trace::default();
    let logits = m.forward_traced(&mut m.new_state(), &prompt, Logits::All, Some(&mut trace)).unwrap();
    let (shape, hf) = g.f32("hf.logits");
    assert_eq!(shape, [prompt.len(), vocab]);
    assert_close(&format!("{model} f16 prompt logits vs HF"), &logits, &hf, 1e-3);

    let (_, hidden) = g.f32("hf.hidden_states");
    let per_layer = prompt.len() * m.config.hidden;
    assert_eq!(trace.hidden_states.len() * per_layer, hidden.len());
    for (l, (got, want)) in trace.hidden_states.iter().zip(hidden.chunks(per_layer)).enumerate() {
        assert_close_rel(&format!("{model} hidden state {l}"), got, want, 1e-4);
    }
    let (_, final_norm) = g.f32("hf.final_norm");
    assert_close_rel(&format!("{model} final norm"), &trace.final_norm, &final_norm, 1e-4);

    if m.config.moe.is_some() {
        let k = m.config.moe.as_ref().unwrap().n_experts_used;
        let (_, sel) = g.i32("hf.router_selected");
        let (_, weights) = g.f32("hf.router_weights");
        let (_, router_logits) = g.f32("hf.router_logits");
        let got_logits: Vec<f32> = trace.routing.iter().flat_map(|r| r.logits.iter().copied()).collect();
        assert_close(&format!("{model} router logits"), &got_logits, &router_logits, 1e-4);
        let got_sel: Vec<u32> = trace.routing.iter().flat_map(|r| r.selected.iter().copied()).collect();
        let got_w: Vec<f32> = trace.routing.iter().flat_map(|r| r.weights.iter().copied()).collect();
        assert_eq!(got_sel.len(), sel.len());
        for (i, (a, b)) in got_sel.chunks(k).zip(sel.chunks(k)).enumerate() {
            let (mut a, mut b) = (a.to_vec(), b.iter().map(|&v| v as u32).collect::<Vec<_>>());
            a.sort();
            b.sort();
            assert_eq!(a, b, "{model}: expert set differs at (layer, position) #{i}");
        }
        // Same order (best first) as HF, so weights compare elementwise.
        assert_close(&format!("{model} router weights"), &got_w, &weights, 1e-5);
    }

    // Cached decode: row t of hf.decode_logits follows the prompt plus generated[..t].
    let generated = g.ids("hf.generated_ids");
    let (_, decode) = g.f32("hf.decode_logits");
    let mut s = m.new_state();
    let mut row = m.forward(&mut s, &prompt, Logits::Last).unwrap();
    for (t, want) in decode.chunks(vocab).enumerate() {
        assert_close(&format!("{model} decode logits step {t}"), &row, want, 1e-3);
        if t + 1 < generated.len() {
            row = m.forward(&mut s, &[generated[t]], Logits::Last).unwrap();
        }
    }
    assert_eq!(greedy(&m, &prompt, generated.len()), generated, "{model} f16 greedy continuation vs HF");
}

#[test]
fn tiny_moe_f16_matches_hf() {
    check_f16_against_hf("tiny-moe");
}

#[test]
fn tiny_dense_f16_matches_hf() {
    check_f16_against_hf("tiny-dense");
}

/// Quantized files against the exact-dequantized reference of the same file: last-position
/// logits and per-position top-32 within 2e-3, greedy tokens exact; llama.cpp as a sanity check.
fn check_against_dequant(model: &str, variant: &str) {
    let (_, m) = open(model, variant);
    let g = Golden::load(model);
    let prompt = g.ids("prompt_ids");
    let vocab = m.config.vocab_size;
    let tol = 2e-3;
    let name = format!("{model} {variant}");

    let logits = m.forward(&mut m.new_state(), &prompt, Logits::All).unwrap();
    let (_, last) = g.f32(&format!("dequant.{variant}.last_logits"));
    assert_close(&format!("{name} last-position logits"), &logits[(prompt.len() - 1) * vocab..], &last, tol);

    let (_, top_ids) = g.i32(&format!("dequant.{variant}.topk_ids"));
    let (_, top_logits) = g.f32(&format!("dequant.{variant}.topk_logits"));
    let k = top_ids.len() / prompt.len();
    for (t, row) in logits.chunks(vocab).enumerate() {
        let (ids, want) = (&top_ids[t * k..(t + 1) * k], &top_logits[t * k..(t + 1) * k]);
        for (&id, &w) in ids.iter().zip(want) {
            let got = row[id as usize];
            assert!((got - w).abs() <= tol, "{name} position {t} token {id}: got {got}, want {w}");
        }
        // No token outside the golden top-k may rise above the k-th golden logit (beyond tol).
        let kth = want[k - 1];
        let intruder = row.iter().enumerate().filter(|(i, _)| !ids.contains(&(*i as i32))).map(|(_, &v)| v).fold(f32::MIN, f32::max);
        assert!(intruder <= kth + tol, "{name} position {t}: a token outside the golden top-{k} has logit {intruder} > {kth}");
    }

    let want = g.ids(&format!("dequant.{variant}.generated_ids"));
    assert_eq!(greedy(&m, &prompt, want.len()), want, "{name} greedy continuation vs dequant reference");

    // llama.cpp quantizes activations, so only its top-1 agreement is a meaningful check.
    let (_, lc_ids) = g.i32(&format!("llamacpp.{variant}.topk_ids"));
    let agree = logits
        .chunks(vocab)
        .enumerate()
        .filter(|(t, row)| lfm_webgpu::sampling::argmax(row) as i32 == lc_ids[t * k])
        .count();
    assert!(agree * 10 >= prompt.len() * 6, "{name}: top-1 agrees with llama.cpp at only {agree}/{} positions", prompt.len());
}

#[test]
fn quantized_fixtures_match_dequant_reference() {
    for &(model, variant) in SHIPPED {
        check_against_dequant(model, variant);
    }
}

/// The prompt in one call, one token per call, and random chunks all give the same logits.
#[test]
fn incremental_decode_equals_full_evaluation() {
    let mut rng = Rng::new(7);
    for &(model, variant) in &[("tiny-moe", "q8_0"), ("tiny-dense", "f16"), ("small-moe", "q4_k_m")] {
        let (_, m) = open(model, variant);
        let prompt = Golden::load(model).ids("prompt_ids");
        let vocab = m.config.vocab_size;
        let full = m.forward(&mut m.new_state(), &prompt, Logits::All).unwrap();

        let mut s = m.new_state();
        let one_by_one: Vec<f32> = prompt.iter().flat_map(|&t| m.forward(&mut s, &[t], Logits::Last).unwrap()).collect();
        assert_close(&format!("{model} {variant} token-by-token vs full"), &one_by_one, &full, 1e-4);

        let mut s = m.new_state();
        let mut chunked = Vec::new();
        let mut at = 0;
        while at < prompt.len() {
            let n = 1 + rng.below(5).min(prompt.len() - at - 1);
            chunked.extend(m.forward(&mut s, &prompt[at..at + n], Logits::All).unwrap());
            at += n;
        }
        assert_close(&format!("{model} {variant} random chunks vs full"), &chunked, &full, 1e-4);
        assert_eq!(s.pos, prompt.len());
        assert_eq!(full.len(), prompt.len() * vocab);
    }
}

#[test]
fn prompt_longer_than_context_is_an_error() {
    let (_, mut m) = open("tiny-dense", "f16");
    m.config.context_length = 8;
    let err = m.forward(&mut m.new_state(), &[1; 9], Logits::Last).unwrap_err();
    assert!(matches!(err, lfm_webgpu::model::ModelError::ContextOverflow { needed: 9, limit: 8 }), "{err}");
    let mut s = m.new_state();
    m.forward(&mut s, &[1; 8], Logits::None).unwrap();
    let err = m.forward(&mut s, &[1], Logits::Last).unwrap_err();
    assert!(matches!(err, lfm_webgpu::model::ModelError::ContextOverflow { needed: 9, limit: 8 }), "{err}");
    let err = m.forward(&mut m.new_state(), &[70_000], Logits::Last).unwrap_err();
    assert!(matches!(err, lfm_webgpu::model::ModelError::TokenOutOfRange { id: 70_000, .. }), "{err}");
}
