//! Measurements for `lfm bench` (and the browser benchmark page): the adapter's own copy
//! bandwidth, the bytes one decoded token reads, the GPU memory a model and a state hold, and
//! the kernel launches of a forward step (counted, never timed: `tests/perf_counts.rs` holds
//! them to a committed baseline).

use web_time::Instant;

use crate::model::{Ffn, LayerKind, Mixer, ModelError};
use crate::sampling::{Sampler, SamplingParams};

use super::kernels as k;
use super::model::GpuModel;
use super::{GpuContext, GpuError, GpuState, Ops, OpsCounts};

/// Bandwidth of a WGSL copy kernel in bytes/s (bytes read + bytes written), over buffers of
/// `bytes` (capped to the binding limit), best of `repeats` timed submissions after a warm-up
/// (each of as many copies as make ~50 ms, at most 64).
pub async fn copy_bandwidth(ctx: &GpuContext, bytes: u64, repeats: usize) -> Result<f64, GpuError> {
    let bytes = bytes.min(ctx.max_binding_bytes()) / 16 * 16;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let make = |label| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage,
            mapped_at_creation: false,
        })
    };
    let (src, dst) = (make("bench.src"), make("bench.dst"));
    let (src, dst) = (&src, &dst);
    // Seconds for `n` copies in one submission, waited for.
    let run = |n: usize| async move {
        let start = Instant::now();
        let mut ops = Ops::new(ctx);
        for _ in 0..n {
            k::copy(&mut ops, src, dst, bytes)?;
        }
        ops.submit();
        ctx.read_bytes(dst, 16).await?; // waits for the copies to finish
        Ok::<f64, GpuError>(start.elapsed().as_secs_f64())
    };
    // Warm-up: compiles the pipeline.
    run(1).await?;
    // A fast GPU copies 256 MiB in a tenth of a millisecond, about what submitting and waiting
    // cost: batch enough copies into each submission for ~50 ms of work.
    let copies = (0.05 / run(1).await?).clamp(1.0, 64.0) as usize;
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        best = best.min(run(copies).await? / copies as f64);
    }
    Ok(2.0 * bytes as f64 / best)
}

/// Weight bytes one decoded token reads, by part, as the kernels read them: every matrix of
/// a layer once, of each expert stack only the routed `used / total` share (`moe_matvec`
/// reads the selected experts' rows only), one row of the embedding table (`embed`), and the
/// tied embedding once more in full as the LM head. Vectors (norms, conv kernels, expert
/// bias) are f32 on the GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenBytes {
    /// Matrices and vectors of the layers that every token reads: mixers, dense MLPs, routers.
    pub dense: u64,
    /// The routed experts' share of the expert stacks (an expectation: `used / total`).
    pub experts: u64,
    /// The LM head (the tied embedding, read whole) and the final norm.
    pub head: u64,
    /// The token's row of the embedding table.
    pub embed_row: u64,
}

impl TokenBytes {
    pub fn total(&self) -> u64 {
        self.dense + self.experts + self.head + self.embed_row
    }
}

/// See [`TokenBytes`].
pub fn token_bytes(m: &GpuModel) -> TokenBytes {
    let w = &m.weights;
    let share = m.config.moe.as_ref().map_or(1.0, |c| c.n_experts_used as f64 / c.n_experts as f64);
    let vec_bytes = |n: usize| 4 * n as u64;
    let mut b = TokenBytes {
        head: w.token_embd.bytes() + vec_bytes(w.output_norm.len()),
        embed_row: w.token_embd.bytes().div_ceil(w.token_embd.rows as u64),
        ..Default::default()
    };
    let mut experts = 0.0;
    for layer in &w.layers {
        b.dense += vec_bytes(layer.mixer_norm.len() + layer.ffn_norm.len());
        b.dense += match &layer.mixer {
            Mixer::Conv(c) => c.in_proj.bytes() + c.out_proj.bytes() + vec_bytes(c.kernel.len()),
            Mixer::Attn(a) => {
                a.q.bytes() + a.k.bytes() + a.v.bytes() + a.o.bytes() + vec_bytes(a.q_norm.len() + a.k_norm.len())
            }
        };
        match &layer.ffn {
            Ffn::Dense(d) => b.dense += d.gate.bytes() + d.up.bytes() + d.down.bytes(),
            Ffn::Moe(e) => {
                b.dense += e.router.bytes() + vec_bytes(e.expert_bias.len());
                experts += share * (e.gate_exps.bytes() + e.up_exps.bytes() + e.down_exps.bytes()) as f64;
            }
        }
    }
    b.experts = experts.round() as u64;
    b
}

/// Weight bytes one decoded token reads: [`TokenBytes::total`].
pub fn weight_bytes_per_token(m: &GpuModel) -> u64 {
    token_bytes(m).total()
}

/// Bytes of K and V of one position, summed over the attention layers, in the precision the
/// model's states keep them ([`GpuModel::kv_precision`]).
pub fn kv_bytes_per_position(m: &GpuModel) -> u64 {
    let c = &m.config;
    c.layers
        .iter()
        .map(|l| match l {
            LayerKind::Attention { n_kv_heads } => {
                2 * m.kv_precision.element_bytes() * (n_kv_heads * c.head_dim) as u64
            }
            LayerKind::Conv => 0,
        })
        .sum()
}

/// KV-cache bytes the token decoded at position `pos` reads: K and V of positions `0 ..= pos`
/// of every attention layer.
pub fn kv_bytes_read_at(m: &GpuModel, pos: usize) -> u64 {
    kv_bytes_per_position(m) * (pos as u64 + 1)
}

/// GPU memory of a model and one state, as allocated by this crate's buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryBytes {
    /// Weight buffers (quantized matrices as laid out on the GPU, f32 vectors).
    pub weights: u64,
    /// The rope frequency table.
    pub rope: u64,
    /// KV caches for the state's whole capacity.
    pub kv: u64,
    /// Conv states.
    pub conv: u64,
    /// Step activations (for the largest batch), logits, sampling buffers.
    pub scratch: u64,
}

impl MemoryBytes {
    pub fn total(&self) -> u64 {
        self.weights + self.rope + self.kv + self.conv + self.scratch
    }
}

/// See [`MemoryBytes`]. Transient buffers (each dispatch's small params uniform, readback
/// staging, `Logits::All` outputs) are not included.
pub fn memory_bytes(m: &GpuModel, st: &GpuState) -> MemoryBytes {
    let s = st.bytes();
    MemoryBytes {
        weights: m.weight_bytes,
        rope: m.rope.inv_freq.buffer.size(),
        kv: s.kv,
        conv: s.conv,
        scratch: s.scratch,
    }
}

/// Device memory as the backend's allocator reports it (natively on Vulkan / DX12 / Metal
/// where wgpu sub-allocates): bytes in live allocations (every buffer alive, transient ones
/// and alignment included), and bytes of the memory blocks reserved for them. `None` where
/// the backend gives no report (the browser).
pub fn device_memory(ctx: &GpuContext) -> Option<(u64, u64)> {
    ctx.device.generate_allocator_report().map(|r| (r.total_allocated_bytes, r.total_reserved_bytes))
}

/// What one decode step and one prefill cost in GPU work, counted on this thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// One token decoded at position `prefill_tokens + 1` (greedy, sampled on the GPU; the
    /// second decoded token, so the bind groups the first made are reused).
    pub decode: OpsCounts,
    /// The prefill of `prefill_tokens` tokens, ending with the first sampled token.
    pub prefill: OpsCounts,
    pub prefill_tokens: usize,
}

/// Counts the kernel launches of a prefill of `prefill_tokens` tokens (ids `1, 2, ...` modulo
/// the vocabulary) and of the decode step after it, on a fresh state of `capacity` positions
/// (dispatches of the attention depend on how many cache blocks the capacity needs).
pub async fn count_steps(m: &GpuModel, prefill_tokens: usize, capacity: usize) -> Result<StepCounts, ModelError> {
    let vocab = m.config.vocab_size as u32;
    let prompt: Vec<u32> = (1..=prefill_tokens as u32).map(|i| i % vocab).collect();
    let mut st = m.new_state(capacity)?;
    let mut greedy = Sampler::new(SamplingParams::default());
    let c0 = OpsCounts::now();
    let next = m.forward_sample(&mut st, &prompt, &mut greedy).await?;
    let prefill = OpsCounts::since(c0);
    // The second decoded token: the steady state (the first makes the decode bind groups).
    let next = m.forward_sample(&mut st, &[next], &mut greedy).await?;
    let c0 = OpsCounts::now();
    m.forward_sample(&mut st, &[next], &mut greedy).await?;
    Ok(StepCounts { decode: OpsCounts::since(c0), prefill, prefill_tokens })
}
