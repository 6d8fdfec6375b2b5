//! Golden checks shared by every backend: a backend is anything that can evaluate tokens
//! from a fresh state ([`Runner`]); the checks compare it with the fixture goldens.

use super::{assert_close, Golden};
use lfm_webgpu::reference::Logits;
use lfm_webgpu::sampling::argmax;

pub trait Runner {
    fn vocab(&self) -> usize;
    /// Feeds `chunks` one after another into one fresh sequence; returns the logits `want`ed
    /// of every chunk, concatenated.
    fn run(&self, chunks: &[&[u32]], want: Logits) -> Vec<f32>;
}

impl Runner for lfm_webgpu::reference::ReferenceModel {
    fn vocab(&self) -> usize {
        self.config.vocab_size
    }
    fn run(&self, chunks: &[&[u32]], want: Logits) -> Vec<f32> {
        let mut s = self.new_state();
        chunks.iter().flat_map(|c| self.forward(&mut s, c, want).unwrap()).collect()
    }
}

/// F16 files hold the exact HF weights: all prompt logits within 1e-3 of HF fp32, the cached
/// decode logits too, and the same greedy continuation.
pub fn check_f16_logits_and_decode(r: &dyn Runner, model: &str) {
    check_f16_logits_and_decode_within(r, model, 1e-3);
}

/// [`check_f16_logits_and_decode`] with logits within `tol` (a backend that rounds on purpose,
/// like an f16 KV cache).
pub fn check_f16_logits_and_decode_within(r: &dyn Runner, model: &str, tol: f32) {
    let g = Golden::load(model);
    let prompt = g.ids("prompt_ids");
    let vocab = r.vocab();
    let logits = r.run(&[&prompt], Logits::All);
    let hf = g.f32("hf.logits").1;
    eprintln!("{model}: prompt logits max |got - HF| = {:e}", super::max_abs_diff(&logits, &hf).0);
    assert_close(&format!("{model} f16 prompt logits vs HF"), &logits, &hf, tol);

    // Row t of hf.decode_logits follows the prompt plus generated[..t], one token per step.
    let generated = g.ids("hf.generated_ids");
    let (_, decode) = g.f32("hf.decode_logits");
    let mut chunks: Vec<&[u32]> = vec![&prompt];
    chunks.extend(generated[..generated.len() - 1].iter().map(std::slice::from_ref));
    let rows = r.run(&chunks, Logits::Last);
    assert_eq!(rows.len(), decode.len());
    eprintln!("{model}: decode logits max |got - HF| = {:e}", super::max_abs_diff(&rows, &decode).0);
    for (t, (got, want)) in rows.chunks(vocab).zip(decode.chunks(vocab)).enumerate() {
        assert_close(&format!("{model} decode logits step {t}"), got, want, tol);
    }
    assert_eq!(greedy_fast(&rows, vocab), generated, "{model} f16 greedy continuation vs HF");
}

/// The argmax of each decode row: the greedy continuation, given the rows came from feeding it.
fn greedy_fast(rows: &[f32], vocab: usize) -> Vec<u32> {
    rows.chunks(vocab).map(argmax).collect()
}

/// Quantized files against the exact-dequantized reference of the same file: last-position
/// logits and per-position top-32 within 2e-3, and the greedy tokens exact.
pub fn check_against_dequant(r: &dyn Runner, model: &str, variant: &str) {
    let g = Golden::load(model);
    let prompt = g.ids("prompt_ids");
    let vocab = r.vocab();
    let tol = 2e-3;
    let name = format!("{model} {variant}");

    let logits = r.run(&[&prompt], Logits::All);
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
        let intruder = row
            .iter()
            .enumerate()
            .filter(|(i, _)| !ids.contains(&(*i as i32)))
            .map(|(_, &v)| v)
            .fold(f32::MIN, f32::max);
        assert!(
            intruder <= kth + tol,
            "{name} position {t}: a token outside the golden top-{k} has logit {intruder} > {kth}"
        );
    }

    // The decode path: feed the golden continuation one token at a time; its argmaxes must
    // reproduce it (so the greedy run of this backend is exactly the golden one).
    let want = g.ids(&format!("dequant.{variant}.generated_ids"));
    let mut chunks: Vec<&[u32]> = vec![&prompt];
    chunks.extend(want[..want.len() - 1].iter().map(std::slice::from_ref));
    let rows = r.run(&chunks, Logits::Last);
    assert_eq!(greedy_fast(&rows, vocab), want, "{name} greedy continuation vs dequant reference");

    // llama.cpp quantizes activations, so only its top-1 agreement is a meaningful check.
    let (_, lc_ids) = g.i32(&format!("llamacpp.{variant}.topk_ids"));
    let agree = logits.chunks(vocab).enumerate().filter(|(t, row)| argmax(row) as i32 == lc_ids[t * k]).count();
    assert!(
        agree * 10 >= prompt.len() * 6,
        "{name}: top-1 agrees with llama.cpp at only {agree}/{} positions",
        prompt.len()
    );
}

/// The prompt in one call, one token per call, and chunks of the given sizes give the same
/// logits at every position.
pub fn check_chunking(r: &dyn Runner, name: &str, prompt: &[u32], chunk_sizes: &[usize]) {
    let full = r.run(&[prompt], Logits::All);
    let singles: Vec<&[u32]> = prompt.iter().map(std::slice::from_ref).collect();
    assert_close(&format!("{name} token-by-token vs full"), &r.run(&singles, Logits::Last), &full, 1e-4);
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < prompt.len() {
        let n = chunk_sizes[i % chunk_sizes.len()].min(prompt.len() - at);
        chunks.push(&prompt[at..at + n]);
        at += n;
        i += 1;
    }
    assert_close(&format!("{name} chunks {chunk_sizes:?} vs full"), &r.run(&chunks, Logits::All), &full, 1e-4);
}
