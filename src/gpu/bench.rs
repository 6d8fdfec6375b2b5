//! Measurements for `lfm bench` (and the browser benchmark page): the adapter's own copy
//! bandwidth, and how many weight bytes one decoded token reads.

use web_time::Instant;

use crate::model::{Ffn, Mixer};

use super::kernels as k;
use super::model::GpuModel;
use super::{GpuContext, GpuError, Ops};

/// Bandwidth of a WGSL copy kernel in bytes/s (bytes read + bytes written), over buffers of
/// `bytes` (capped to the binding limit), best of `repeats` timed runs after a warm-up.
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
    let mut best = f64::INFINITY;
    for i in 0..=repeats {
        let start = Instant::now();
        let mut ops = Ops::new(ctx);
        k::copy(&mut ops, &src, &dst, bytes)?;
        ops.submit();
        ctx.read_bytes(&dst, 16).await?; // waits for the copy to finish
        if i > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    Ok(2.0 * bytes as f64 / best)
}

/// Weight bytes one decoded token reads: every matrix once (the tied embedding in full, as
/// the LM head), vectors, and of each expert stack only the `used / total` routed share.
pub fn weight_bytes_per_token(m: &GpuModel) -> u64 {
    let w = &m.weights;
    let share = m.config.moe.as_ref().map_or(1.0, |c| c.n_experts_used as f64 / c.n_experts as f64);
    let mut total = w.token_embd.bytes() as f64 + 4.0 * w.output_norm.len() as f64;
    for layer in &w.layers {
        total += 4.0 * (layer.mixer_norm.len() + layer.ffn_norm.len()) as f64;
        total += match &layer.mixer {
            Mixer::Conv(c) => (c.in_proj.bytes() + c.out_proj.bytes() + 4 * c.kernel.len() as u64) as f64,
            Mixer::Attn(a) => (a.q.bytes() + a.k.bytes() + a.v.bytes() + a.o.bytes()) as f64,
        };
        total += match &layer.ffn {
            Ffn::Dense(d) => (d.gate.bytes() + d.up.bytes() + d.down.bytes()) as f64,
            Ffn::Moe(e) => {
                e.router.bytes() as f64 + share * (e.gate_exps.bytes() + e.up_exps.bytes() + e.down_exps.bytes()) as f64
            }
        };
    }
    total as u64
}
