//! The reference backend against the golden outputs of Hugging Face transformers (fp32) and
//! the exact-dequantized reference, on every fixture GGUF. Tolerances are those of
//! `../shared/fixtures/README.md`.

mod common;

use common::golden::{check_against_dequant, check_chunking, check_f16_logits_and_decode};
use common::{assert_close, assert_close_rel, open, Golden, SHIPPED};
use lfm_webgpu::reference::{Logits, Trace};

/// What only the reference exposes: per-layer hidden states within 1e-4 * (1 + |v|) of HF,
/// the final norm, and the routing (same expert sets, weights within 1e-5).
fn check_trace_against_hf(model: &str) {
    let (_, m) = open(model, "f16");
    let g = Golden::load(model);
    let prompt = g.ids("prompt_ids");
    let mut trace = Trace::default();
    m.forward_traced(&mut m.new_state(), &prompt, Logits::All, Some(&mut trace)).unwrap();

    let (_, hidden) = g.f32("hf.hidden_states");
    let per_layer = prompt.len() * m.config.hidden;
    assert_eq!(trace.hidden_states.len() * per_layer, hidden.len());
    for (l, (got, want)) in trace.hidden_states.iter().zip(hidden.chunks(per_layer)).enumerate() {
        assert_close_rel(&format!("{model} hidden state {l}"), got, want, 1e-4);
    }
    assert_close_rel(&format!("{model} final norm"), &trace.final_norm, &g.f32("hf.final_norm").1, 1e-4);

    if let Some(moe) = &m.config.moe {
        let k = moe.n_experts_used;
        let got_logits: Vec<f32> = trace.routing.iter().flat_map(|r| r.logits.iter().copied()).collect();
        assert_close(&format!("{model} router logits"), &got_logits, &g.f32("hf.router_logits").1, 1e-4);
        let got_sel: Vec<u32> = trace.routing.iter().flat_map(|r| r.selected.iter().copied()).collect();
        let sel = g.ids("hf.router_selected");
        assert_eq!(got_sel.len(), sel.len());
        for (i, (a, b)) in got_sel.chunks(k).zip(sel.chunks(k)).enumerate() {
            let (mut a, mut b) = (a.to_vec(), b.to_vec());
            a.sort();
            b.sort();
            assert_eq!(a, b, "{model}: expert set differs at (layer, position) #{i}");
        }
        // Same order (best first) as HF, so weights compare elementwise.
        let got_w: Vec<f32> = trace.routing.iter().flat_map(|r| r.weights.iter().copied()).collect();
        assert_close(&format!("{model} router weights"), &got_w, &g.f32("hf.router_weights").1, 1e-5);
    }
}

#[test]
fn tiny_moe_f16_matches_hf() {
    check_trace_against_hf("tiny-moe");
    check_f16_logits_and_decode(&open("tiny-moe", "f16").1, "tiny-moe");
}

#[test]
fn tiny_dense_f16_matches_hf() {
    check_trace_against_hf("tiny-dense");
    check_f16_logits_and_decode(&open("tiny-dense", "f16").1, "tiny-dense");
}

#[test]
fn quantized_fixtures_match_dequant_reference() {
    for &(model, variant) in SHIPPED.iter().filter(|(_, v)| *v != "f16") {
        check_against_dequant(&open(model, variant).1, model, variant);
    }
}

/// The prompt in one call, one token per call, and uneven chunks all give the same logits.
#[test]
fn incremental_decode_equals_full_evaluation() {
    for &(model, variant) in &[("tiny-moe", "q8_0"), ("tiny-dense", "f16"), ("small-moe", "q4_k_m")] {
        let prompt = Golden::load(model).ids("prompt_ids");
        check_chunking(&open(model, variant).1, &format!("{model} {variant}"), &prompt, &[3, 1, 5, 2]);
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
