//! `lfm bench --profile`: time per kernel of a prefill and of decoding, each dispatch run
//! alone and waited for (`lfm_webgpu::gpu::profile`), so the tables say which kernels hold
//! the time.

use lfm_webgpu::gpu::profile::{self, KernelTime};
use lfm_webgpu::gpu::GpuModel;
use lfm_webgpu::model::ModelError;
use lfm_webgpu::sampling::{Sampler, SamplingParams};
use serde_json::{json, Value};

/// Per-pipeline totals over `tokens` tokens of one kind of work.
pub struct Profile {
    /// "prefill" or "decode".
    pub kind: &'static str,
    pub tokens: usize,
    /// Positions in the KV cache before the first token (decode: the zeroed-KV shortcut).
    pub context: usize,
    pub kernels: Vec<(String, KernelTime)>,
}

/// Runs `work` with profiling on and collects the kernels' times.
fn profiled(work: impl FnOnce() -> Result<(), ModelError>) -> crate::Result<Vec<(String, KernelTime)>> {
    profile::start();
    let run = work();
    let kernels = profile::stop();
    run?;
    Ok(kernels)
}

/// Decodes `tokens` tokens (chosen by `sampling`) at `context` after one unprofiled token.
pub fn decode(model: &GpuModel, tokens: usize, context: usize, sampling: &SamplingParams) -> crate::Result<Profile> {
    eprintln!("bench: profile of {tokens} decoded tokens at context {context} (each kernel run alone)");
    let mut st = model.new_state(context + tokens + 2)?;
    st.pos = context;
    let mut sampler = Sampler::new(sampling.clone());
    let mut next = model.forward_sample_blocking(&mut st, &[1], &mut sampler)?;
    let kernels = profiled(|| {
        for _ in 0..tokens {
            next = model.forward_sample_blocking(&mut st, &[next], &mut sampler)?;
        }
        Ok(())
    })?;
    Ok(Profile { kind: "decode", tokens, context, kernels })
}

/// Evaluates a prompt of `tokens` token ids (1, 2, ...) and samples the first token.
pub fn prefill(model: &GpuModel, tokens: usize) -> crate::Result<Profile> {
    eprintln!("bench: profile of a {tokens}-token prefill (each kernel run alone)");
    let mut st = model.new_state(tokens + 1)?;
    let prompt: Vec<u32> = (1..=tokens as u32).map(|i| i % model.config.vocab_size as u32).collect();
    let mut greedy = Sampler::new(SamplingParams::default());
    let kernels = profiled(|| model.forward_sample_blocking(&mut st, &prompt, &mut greedy).map(drop))?;
    Ok(Profile { kind: "prefill", tokens, context: 0, kernels })
}

impl Profile {
    fn total(&self) -> f64 {
        self.kernels.iter().map(|(_, k)| k.seconds).sum()
    }

    /// The kernels' summed GPU time, where every call was timed on the GPU (timestamp queries).
    fn gpu_total(&self) -> Option<f64> {
        let all = !self.kernels.is_empty() && self.kernels.iter().all(|(_, k)| k.gpu_calls == k.calls);
        all.then(|| self.kernels.iter().map(|(_, k)| k.gpu_seconds).sum())
    }

    pub fn json(&self) -> Value {
        let n = self.tokens as f64;
        let timed = self.gpu_total().is_some();
        let kernels: Vec<Value> = self
            .kernels
            .iter()
            .map(|(name, k)| {
                let gpu = timed.then(|| 1e3 * k.gpu_seconds / n);
                json!({ "kernel": name, "calls_per_token": k.calls as f64 / n, "ms_per_token": 1e3 * k.seconds / n, "gpu_ms_per_token": gpu })
            })
            .collect();
        json!({
            "kind": self.kind,
            "tokens": self.tokens,
            "context": self.context,
            "ms_per_token": 1e3 * self.total() / n,
            "gpu_ms_per_token": self.gpu_total().map(|g| 1e3 * g / n),
            "kernels": kernels,
        })
    }

    pub fn print(&self) {
        let (n, total) = (self.tokens as f64, self.total());
        println!(
            "\n{} profile ({} tokens, context {}): {:.1} ms per token with every kernel run alone",
            self.kind,
            self.tokens,
            self.context,
            1e3 * total / n
        );
        let Some(gpu) = self.gpu_total() else {
            println!("{:<26} {:>9} {:>9} {:>7}", "kernel", "calls/tok", "ms/tok", "share");
            for (name, k) in &self.kernels {
                println!(
                    "{name:<26} {:>9.2} {:>9.2} {:>6.1}%",
                    k.calls as f64 / n,
                    1e3 * k.seconds / n,
                    100.0 * k.seconds / total
                );
            }
            return;
        };
        // With timestamps: the wall time includes each submission and wait; the GPU time is
        // the kernels' own (their share is of the GPU total).
        println!("GPU time (timestamp queries): {:.2} ms per token", 1e3 * gpu / n);
        println!("{:<26} {:>9} {:>9} {:>11} {:>7}", "kernel", "calls/tok", "ms/tok", "GPU ms/tok", "share");
        let mut rows: Vec<_> = self.kernels.iter().collect();
        rows.sort_by(|a, b| b.1.gpu_seconds.total_cmp(&a.1.gpu_seconds));
        for (name, k) in rows {
            println!(
                "{name:<26} {:>9.2} {:>9.2} {:>11.3} {:>6.1}%",
                k.calls as f64 / n,
                1e3 * k.seconds / n,
                1e3 * k.gpu_seconds / n,
                100.0 * k.gpu_seconds / gpu
            );
        }
    }
}
