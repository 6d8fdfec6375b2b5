//! The attention block's norm, RoPE and cache store in one launch (`shaders/qk_norm_rope_store.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::{expect_len, kv_spec, to_u32, RopeTable};
use crate::gpu::ops::Dispatch;
use crate::gpu::{GpuError, GpuTensor, KvCache, Ops};

/// Mirrors `Params` in `shaders/qk_norm_rope_store.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    src_row0: u32, // first token of the dispatch
    dst_row0: u32, // its block-local position
    n_rows: u32,   // tokens of the dispatch
    pos0: u32,     // position of token 0 of the step
    eps: f32,
    _pad: u32,
}

/// Threads per workgroup (one workgroup per (token, head)); each takes 4 elements of the head.
const WG: u32 = 32;

/// For T tokens at positions `pos0 ..`: RMS-norms each query head with `norms[0]` and ropes
/// it, in place in `qkv[0]`; norms each kv head of `qkv[1]` with `norms[1]`, ropes it and
/// stores it with `qkv[2]`'s V in the cache (what `rms_norm`, `rope` and `kv_store` do in
/// turn, in one launch per cache block touched).
/// - qkv: q (T, n_heads * head_dim), raw in, normed and roped out; k and v (T, n_kv_heads * head_dim)
/// - norms: q_norm and k_norm, (head_dim) each
pub fn qk_norm_rope_store(
    ops: &mut Ops<'_>,
    qkv: [&GpuTensor; 3],
    norms: [&GpuTensor; 2],
    eps: f32,
    rope: &RopeTable,
    cache: &KvCache,
    pos0: usize,
) -> Result<(), GpuError> {
    let [q, k, v] = qkv;
    let (t, hd, kv_row) = (q.rows, cache.head_dim, cache.row_len());
    let n_heads = q.cols / hd;
    if n_heads == 0 || q.cols != n_heads * hd || rope.head_dim != hd {
        return Err(GpuError::Shape(format!(
            "qk_norm_rope_store: q rows of {} for heads of {hd} (rope table for {})",
            q.cols, rope.head_dim
        )));
    }
    expect_len(k, "qk_norm_rope_store: k", t, kv_row)?;
    expect_len(v, "qk_norm_rope_store: v", t, kv_row)?;
    expect_len(norms[0], "qk_norm_rope_store: q_norm", 1, hd)?;
    expect_len(norms[1], "qk_norm_rope_store: k_norm", 1, hd)?;
    cache.check_positions("qk_norm_rope_store", pos0, t)?;
    // Positions become f32 in the shader, exact below 2^24 like the reference's cast.
    if pos0 + t >= 1 << 24 {
        return Err(GpuError::Shape(format!("qk_norm_rope_store: position {} is past 2^24", pos0 + t)));
    }
    let heads = n_heads + cache.n_kv_heads;
    let spec = kv_spec("qk_norm_rope_store", cache);
    let constants = [("wg_size", WG as f64), ("head_dim", hd as f64)];
    for (block, dst_row, rows, src_row) in cache.spans(pos0, t) {
        let params = Params {
            n_heads: n_heads as u32,
            n_kv_heads: cache.n_kv_heads as u32,
            src_row0: src_row as u32,
            dst_row0: dst_row as u32,
            n_rows: rows as u32,
            pos0: pos0 as u32,
            eps,
            _pad: 0,
        };
        let storage = [
            &q.buffer,
            &k.buffer,
            &v.buffer,
            &norms[0].buffer,
            &norms[1].buffer,
            &rope.inv_freq.buffer,
            &block.k,
            &block.v,
        ];
        let workgroups = ops.grid(to_u32(rows * heads, "qk_norm_rope_store workgroups")?, 1);
        ops.dispatch(Dispatch {
            spec,
            constants: &constants,
            params: bytemuck::bytes_of(&params),
            storage: &storage,
            weights: None,
            x_norm: None,
            workgroups,
        })?;
    }
    Ok(())
}
