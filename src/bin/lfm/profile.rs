//! `lfm bench --profile`: decode time per kernel, each dispatch run alone and waited for
//! (`lfm_webgpu::gpu::profile`), so the table says which kernels hold a token's time.

use lfm_webgpu::gpu::profile::{self, KernelTime};
use lfm_webgpu::gpu::GpuModel;
use lfm_webgpu::sampling::{Sampler, SamplingParams};
use serde_json::{json, Value};

/// Per-pipeline totals over `tokens` decoded tokens (after one unprofiled token).
pub struct DecodeProfile {
    pub tokens: usize,
    /// Positions in the (zeroed) KV cache before the first token.
    pub context: usize,
    pub kernels: Vec<(String, KernelTime)>,
}

/// Decodes `tokens` greedy tokens at `context` (the zeroed-KV shortcut of `lfm bench`) after
/// one unprofiled token, with profiling on.
pub fn decode_profile(model: &GpuModel, tokens: usize, context: usize) -> crate::Result<DecodeProfile> {
    eprintln!("bench: profile of {tokens} decoded tokens at context {context} (each kernel run alone)");
    let mut st = model.new_state(context + tokens + 2)?;
    st.pos = context;
    let mut greedy = Sampler::new(SamplingParams::default());
    let mut next = model.forward_sample_blocking(&mut st, &[1], &mut greedy)?;
    profile::start();
    let run = (0..tokens).try_for_each(|_| {
        next = model.forward_sample_blocking(&mut st, &[next], &mut greedy)?;
        Ok::<_, lfm_webgpu::model::ModelError>(())
    });
    let kernels = profile::stop();
    run?;
    Ok(DecodeProfile { tokens, context, kernels })
}

impl DecodeProfile {
    fn total(&self) -> f64 {
        self.kernels.iter().map(|(_, k)| k.seconds).sum()
    }

    pub fn json(&self) -> Value {
        let n = self.tokens as f64;
        let kernels: Vec<Value> = self
            .kernels
            .iter()
            .map(|(name, k)| json!({ "kernel": name, "calls_per_token": k.calls as f64 / n, "ms_per_token": 1e3 * k.seconds / n }))
            .collect();
        json!({ "tokens": self.tokens, "context": self.context, "ms_per_token": 1e3 * self.total() / n, "kernels": kernels })
    }

    pub fn print(&self) {
        let (n, total) = (self.tokens as f64, self.total());
        println!(
            "\ndecode profile at context {}: {:.1} ms per token with every kernel run alone",
            self.context,
            1e3 * total / n
        );
        println!("{:<26} {:>9} {:>9} {:>7}", "kernel", "calls/tok", "ms/tok", "share");
        for (name, k) in &self.kernels {
            println!(
                "{name:<26} {:>9.1} {:>9.2} {:>6.1}%",
                k.calls as f64 / n,
                1e3 * k.seconds / n,
                100.0 * k.seconds / total
            );
        }
    }
}
