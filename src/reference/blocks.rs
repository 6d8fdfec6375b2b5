//! One function per block type. Inputs `u` are the normed activations (T, hidden); each
//! block returns what gets added to the residual stream.

use super::ops::{attention, linear, matmul, moe_route, rms_norm, rope, short_conv, swiglu};
use super::trace::Routing;
use crate::model::{Attn, Config, Conv, HostTensor, Mlp, Moe};

/// Double-gated short causal convolution. `tail` holds the last L-1 values of `B*x` per
/// channel, (L-1, hidden), oldest first; it is read as the sequence's past and updated.
pub fn conv_block(c: &Conv<HostTensor, Vec<f32>>, u: &[f32], tail: &mut [f32], hidden: usize) -> Vec<f32> {
    let bcx = linear(&c.in_proj, u); // (T, 3H): B | C | x
    let gated = short_conv(&bcx, &c.kernel, tail, hidden);
    linear(&c.out_proj, &gated)
}

/// The KV cache of one attention layer: (positions, n_kv_heads * head_dim) each.
#[derive(Clone, Default)]
pub struct KvCache {
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// GQA attention with per-head QK RMSNorm and NEOX RoPE over the cache; the new positions
/// start at `pos0` and are appended to `kv`.
pub fn attn_block(a: &Attn<HostTensor, Vec<f32>>, u: &[f32], kv: &mut KvCache, pos0: usize, cfg: &Config) -> Vec<f32> {
    let hd = cfg.head_dim;
    let (q_width, kv_width) = (cfg.n_heads * hd, a.n_kv_heads * hd);
    let mut q = rms_norm(&linear(&a.q, u), &a.q_norm, cfg.norm_eps); // per head: rows of hd
    let mut k = rms_norm(&linear(&a.k, u), &a.k_norm, cfg.norm_eps);
    let v = linear(&a.v, u);
    rope(&mut q, q_width, pos0, hd, cfg.rope_theta);
    rope(&mut k, kv_width, pos0, hd, cfg.rope_theta);
    kv.k.extend_from_slice(&k);
    kv.v.extend_from_slice(&v);
    let out = attention(&q, &kv.k, &kv.v, pos0, cfg.n_heads, a.n_kv_heads, hd);
    linear(&a.o, &out)
}

/// Dense SwiGLU MLP: `down(silu(gate u) * up u)`.
pub fn mlp_block(m: &Mlp<HostTensor>, u: &[f32]) -> Vec<f32> {
    linear(&m.down, &swiglu(&linear(&m.gate, u), &linear(&m.up, u)))
}

/// Mixture of experts: sigmoid router, top-k chosen by score + expert bias, weights the
/// chosen sigmoid scores normalized to sum 1; only the chosen experts are evaluated.
pub fn moe_block(m: &Moe<HostTensor, Vec<f32>>, u: &[f32], cfg: &Config, routing: Option<&mut Routing>) -> Vec<f32> {
    let moe = cfg.moe.as_ref().expect("MoE layer in a MoE config");
    let (h, fe, n_exp, k) = (cfg.hidden, moe.expert_ffn_dim, moe.n_experts, moe.n_experts_used);
    let t = u.len() / h;
    let logits = linear(&m.router, u); // (T, E)
    let (selected, weights) = moe_route(&logits, &m.expert_bias, k); // (T, k) each

    // Run each expert once over the tokens routed to it.
    let mut out = vec![0.0; t * h];
    for e in 0..n_exp {
        let users: Vec<(usize, f32)> =
            (0..t * k).filter(|&i| selected[i] as usize == e).map(|i| (i / k, weights[i])).collect();
        if users.is_empty() {
            continue;
        }
        let xs: Vec<f32> = users.iter().flat_map(|&(ti, _)| u[ti * h..(ti + 1) * h].iter().copied()).collect();
        let gate = matmul(&m.gate_exps, e * fe, fe, &xs);
        let up = matmul(&m.up_exps, e * fe, fe, &xs);
        let down = matmul(&m.down_exps, e * h, h, &swiglu(&gate, &up)); // (users, H)
        for (&(ti, w), y) in users.iter().zip(down.chunks(h)) {
            for (o, v) in out[ti * h..(ti + 1) * h].iter_mut().zip(y) {
                *o += w * v;
            }
        }
    }
    if let Some(r) = routing {
        r.logits.extend_from_slice(&logits);
        r.selected.extend_from_slice(&selected);
        r.weights.extend_from_slice(&weights);
    }
    out
}
