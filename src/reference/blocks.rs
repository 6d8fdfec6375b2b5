//! One function per block type. Inputs `u` are the normed activations (T, hidden); each
//! block returns what gets added to the residual stream.

use super::ops::{dot, linear, matmul, rms_norm, rope, sigmoid, softmax, swiglu};
use super::trace::Routing;
use crate::model::{Attn, Config, Conv, HostTensor, Mlp, Moe};

/// Double-gated short causal convolution. `tail` holds the last L-1 values of `B*x` per
/// channel, (L-1, hidden), oldest first; it is read as the sequence's past and updated.
pub fn conv_block(c: &Conv<HostTensor>, u: &[f32], tail: &mut Vec<f32>, hidden: usize) -> Vec<f32> {
    let bcx = linear(&c.in_proj, u); // (T, 3H): B | C | x
    let kernel = c.kernel.to_f32(); // (H, L)
    let taps = kernel.len() / hidden;
    let t = u.len() / hidden;

    // history = tail ++ B*x over the new positions: (L-1+T, H)
    let mut history = std::mem::take(tail);
    for row in bcx.chunks(3 * hidden) {
        let (b, x) = (&row[..hidden], &row[2 * hidden..]);
        history.extend(b.iter().zip(x).map(|(b, x)| b * x));
    }
    let mut gated = vec![0.0; t * hidden];
    for ti in 0..t {
        let c_gate = &bcx[ti * 3 * hidden + hidden..ti * 3 * hidden + 2 * hidden];
        for ch in 0..hidden {
            let y: f32 = (0..taps).map(|j| kernel[ch * taps + j] * history[(ti + j) * hidden + ch]).sum();
            gated[ti * hidden + ch] = c_gate[ch] * y;
        }
    }
    *tail = history.split_off(history.len() - (taps - 1) * hidden);
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
pub fn attn_block(a: &Attn<HostTensor>, u: &[f32], kv: &mut KvCache, pos0: usize, cfg: &Config) -> Vec<f32> {
    let hd = cfg.head_dim;
    let (q_width, kv_width) = (cfg.n_heads * hd, a.n_kv_heads * hd);
    let mut q = rms_norm(&linear(&a.q, u), &a.q_norm.to_f32(), cfg.norm_eps);
    let mut k = rms_norm(&linear(&a.k, u), &a.k_norm.to_f32(), cfg.norm_eps);
    let v = linear(&a.v, u);
    rope(&mut q, q_width, pos0, hd, cfg.rope_theta);
    rope(&mut k, kv_width, pos0, hd, cfg.rope_theta);
    kv.k.extend_from_slice(&k);
    kv.v.extend_from_slice(&v);

    let t = u.len() / cfg.hidden;
    let group = cfg.n_heads / a.n_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0.0; t * q_width];
    for ti in 0..t {
        let n_ctx = pos0 + ti + 1; // causal: this position and everything before it
        for h in 0..cfg.n_heads {
            let kvh = h / group;
            let qh = &q[ti * q_width + h * hd..][..hd];
            let mut scores: Vec<f32> = (0..n_ctx).map(|p| dot(qh, &kv.k[p * kv_width + kvh * hd..][..hd]) * scale).collect();
            softmax(&mut scores);
            let oh = &mut out[ti * q_width + h * hd..][..hd];
            for (p, &s) in scores.iter().enumerate() {
                add_scaled(oh, &kv.v[p * kv_width + kvh * hd..][..hd], s);
            }
        }
    }
    linear(&a.o, &out)
}

/// Dense SwiGLU MLP: `down(silu(gate u) * up u)`.
pub fn mlp_block(m: &Mlp<HostTensor>, u: &[f32]) -> Vec<f32> {
    linear(&m.down, &swiglu(&linear(&m.gate, u), &linear(&m.up, u)))
}

/// Mixture of experts: sigmoid router, top-k chosen by score + expert bias, weights the
/// chosen sigmoid scores normalized to sum 1; only the chosen experts are evaluated.
pub fn moe_block(m: &Moe<HostTensor>, u: &[f32], cfg: &Config, routing: Option<&mut Routing>) -> Vec<f32> {
    let moe = cfg.moe.as_ref().expect("MoE layer in a MoE config");
    let (h, fe, n_exp, k) = (cfg.hidden, moe.expert_ffn_dim, moe.n_experts, moe.n_experts_used);
    let t = u.len() / h;
    let logits = linear(&m.router, u); // (T, E)
    let bias = m.expert_bias.to_f32();

    // Route every token, then run each expert once over the tokens routed to it.
    let mut chosen: Vec<Vec<(usize, f32)>> = Vec::with_capacity(t);
    for row in logits.chunks(n_exp) {
        let scores: Vec<f32> = row.iter().map(|&l| sigmoid(l)).collect();
        let sel = top_k(&scores.iter().zip(&bias).map(|(s, b)| s + b).collect::<Vec<_>>(), k);
        let sum: f32 = sel.iter().map(|&e| scores[e]).sum();
        chosen.push(sel.iter().map(|&e| (e, scores[e] / (sum + 1e-6))).collect());
    }
    let mut out = vec![0.0; t * h];
    for e in 0..n_exp {
        let users: Vec<(usize, f32)> =
            chosen.iter().enumerate().filter_map(|(ti, c)| c.iter().find(|x| x.0 == e).map(|x| (ti, x.1))).collect();
        if users.is_empty() {
            continue;
        }
        let xs: Vec<f32> = users.iter().flat_map(|&(ti, _)| u[ti * h..(ti + 1) * h].iter().copied()).collect();
        let gate = matmul(&m.gate_exps, e * fe, fe, &xs);
        let up = matmul(&m.up_exps, e * fe, fe, &xs);
        let down = matmul(&m.down_exps, e * h, h, &swiglu(&gate, &up)); // (users, H)
        for (&(ti, w), y) in users.iter().zip(down.chunks(h)) {
            add_scaled(&mut out[ti * h..(ti + 1) * h], y, w);
        }
    }
    if let Some(r) = routing {
        r.logits.extend_from_slice(&logits);
        for c in &chosen {
            r.selected.extend(c.iter().map(|x| x.0 as u32));
            r.weights.extend(c.iter().map(|x| x.1));
        }
    }
    out
}

/// Indices of the k largest values, largest first; ties go to the lower index.
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

fn add_scaled(acc: &mut [f32], y: &[f32], s: f32) {
    for (a, b) in acc.iter_mut().zip(y) {
        *a += s * b;
    }
}

