//! The measurements of `lfm bench`: a running benchmark over one model (warm-up, prefill
//! then decode at a prompt length, decode at a context length with the zeroed-KV shortcut)
//! and what each run records. `bench.rs` turns them into the report.

use std::time::Instant;

use lfm_webgpu::gpu::{bench, GpuModel, GpuState, OpsCounts};
use lfm_webgpu::rng::Rng;
use lfm_webgpu::sampling::{Sampler, SamplingParams};
use serde_json::{json, Value};

/// One prompt length's measurement.
pub struct PrefillRun {
    pub prompt_tokens: usize,
    pub ttft_s: f64,
    pub prefill_counts: OpsCounts,
    pub decode: Option<DecodeRun>,
}

/// Decoding `tokens` tokens from position `context`.
pub struct DecodeRun {
    pub context: usize,
    pub tokens: usize,
    pub seconds: f64,
    pub counts: OpsCounts,
}

impl DecodeRun {
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds
    }

    /// Bytes each token read on average: the weights, and the KV cache up to its position.
    pub fn bytes_per_token(&self, weights: u64, m: &GpuModel) -> u64 {
        let mid = self.context + self.tokens / 2;
        weights + bench::kv_bytes_read_at(m, mid)
    }

    pub fn json(&self, weights: u64, m: &GpuModel, copy_bw: f64) -> Value {
        let bytes = self.bytes_per_token(weights, m);
        let bps = bytes as f64 * self.tokens_per_s();
        json!({
            "context": self.context,
            "gen_tokens": self.tokens,
            "seconds": self.seconds,
            "decode_tokens_per_s": self.tokens_per_s(),
            "weight_bytes_per_token": weights,
            "kv_bytes_per_token": bytes - weights,
            "bytes_per_token": bytes,
            "bytes_per_s": bps,
            "fraction_of_copy_bandwidth": bps / copy_bw,
            "dispatches_per_token": self.counts.dispatches as f64 / self.tokens as f64,
            "host_record_s_per_token": self.counts.record_ns as f64 * 1e-9 / self.tokens as f64,
        })
    }
}

/// GPU memory while the largest state was alive.
pub struct Peak {
    /// Counted from our buffers.
    pub ours: bench::MemoryBytes,
    /// The allocator's (allocated, reserved) bytes, where the backend reports them.
    pub device: Option<(u64, u64)>,
    /// The state's capacity in positions.
    pub capacity: usize,
}

/// The running benchmark: model, warm state for timing, and the largest memory seen.
pub struct Bench<'a> {
    pub model: &'a GpuModel,
    pub rng: Rng,
    /// Memory with the largest state alive.
    pub peak: Option<Peak>,
    /// Prefill rate of the last prompt, for the time a longer one will take.
    pub last_rate: Option<f64>,
    /// How each decoded token is chosen (`--sampling`).
    pub sampling: SamplingParams,
}

impl Bench<'_> {
    pub fn state(&mut self, capacity: usize) -> crate::Result<GpuState> {
        Ok(self.model.new_state(capacity)?)
    }

    pub fn note_memory(&mut self, st: &GpuState) {
        if self.peak.as_ref().is_none_or(|p| p.capacity < st.capacity) {
            let device = bench::device_memory(&self.model.ctx);
            self.peak = Some(Peak { ours: bench::memory_bytes(self.model, st), device, capacity: st.capacity });
        }
    }

    pub fn random_tokens(&mut self, n: usize) -> Vec<u32> {
        let vocab = self.model.config.vocab_size;
        (0..n).map(|_| self.rng.below(vocab) as u32).collect()
    }

    /// Decodes `n` tokens after `first` from `st`'s position, with progress every 10 s.
    pub fn decode(&mut self, st: &mut GpuState, first: u32, n: usize, what: &str) -> crate::Result<DecodeRun> {
        let mut sampler = Sampler::new(self.sampling.clone());
        let context = st.pos;
        let (t0, c0) = (Instant::now(), OpsCounts::now());
        let mut shown = t0;
        let mut next = first;
        for i in 0..n {
            next = self.model.forward_sample_blocking(st, &[next], &mut sampler)?;
            if shown.elapsed().as_secs_f64() > 10.0 {
                eprintln!("bench: {what}: {}/{n} tokens", i + 1);
                shown = Instant::now();
            }
        }
        Ok(DecodeRun { context, tokens: n, seconds: t0.elapsed().as_secs_f64(), counts: OpsCounts::since(c0) })
    }

    pub fn prefill(&mut self, n: usize, gen: usize) -> crate::Result<PrefillRun> {
        match self.last_rate {
            Some(rate) => eprintln!("bench: prefill {n} tokens (about {:.0} s at the last rate)", n as f64 / rate),
            None => eprintln!("bench: prefill {n} tokens"),
        }
        let prompt = self.random_tokens(n);
        let mut st = self.state(n + gen + 1)?;
        let mut sampler = Sampler::new(self.sampling.clone());
        let (t0, c0) = (Instant::now(), OpsCounts::now());
        let first = self.model.forward_sample_blocking(&mut st, &prompt, &mut sampler)?;
        let ttft_s = t0.elapsed().as_secs_f64();
        let prefill_counts = OpsCounts::since(c0);
        self.last_rate = Some(n as f64 / ttft_s);
        self.note_memory(&st);
        let decode = if gen > 0 { Some(self.decode(&mut st, first, gen, &format!("decode after {n}"))?) } else { None };
        Ok(PrefillRun { prompt_tokens: n, ttft_s, prefill_counts, decode })
    }

    /// Decode at `context` positions already in the cache (the zeroed-KV shortcut).
    pub fn decode_at(&mut self, context: usize, gen: usize) -> crate::Result<DecodeRun> {
        eprintln!("bench: decode {gen} tokens at context {context}");
        let mut st = self.state(context + gen + 1)?;
        st.pos = context;
        self.note_memory(&st);
        let first = self.random_tokens(1)[0];
        self.decode(&mut st, first, gen, &format!("decode at {context}"))
    }

    /// One small prefill and one decode step: compiles the pipelines of both paths.
    pub fn warm_up(&mut self) -> crate::Result<()> {
        let mut st = self.state(4)?;
        let mut sampler = Sampler::new(self.sampling.clone());
        let prompt = self.random_tokens(2);
        let next = self.model.forward_sample_blocking(&mut st, &prompt, &mut sampler)?;
        self.model.forward_sample_blocking(&mut st, &[next], &mut sampler)?;
        Ok(())
    }
}

pub fn counts_json(c: &OpsCounts) -> Value {
    json!({ "dispatches": c.dispatches, "workgroups": c.workgroups, "copies": c.copies, "submits": c.submits })
}
