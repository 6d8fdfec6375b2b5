//! The elementary operations of the forward pass, in plain f32 Rust.
//!
//! Each function here is the specification of the WGSL kernel of the same name. Activations
//! are row-major `(T, n)` slices: T token positions of n values each.

use crate::model::HostTensor;

/// Gathers rows `ids` of the embedding table: (T, hidden).
pub fn embed(table: &HostTensor, ids: &[u32]) -> Vec<f32> {
    let h = table.cols();
    let mut out = vec![0.0; ids.len() * h];
    for (row, &id) in out.chunks_mut(h).zip(ids) {
        table.dequantize_row(id as usize, row);
    }
    out
}

/// `x * rsqrt(mean(x^2) + eps) * w` for every row of `n` values (w is used as is, not 1 + w).
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    let mut out = vec![0.0; x.len()];
    for (o, xr) in out.chunks_mut(n).zip(x.chunks(n)) {
        let mean_sq = xr.iter().map(|v| v * v).sum::<f32>() / n as f32;
        let scale = 1.0 / (mean_sq + eps).sqrt();
        for ((o, &v), &wi) in o.iter_mut().zip(xr).zip(w) {
            *o = v * scale * wi;
        }
    }
    out
}

/// `y = x W^T` over rows `first_row .. first_row + n_rows` of the (possibly quantized) matrix
/// `w`: x is (T, cols), y is (T, n_rows). Each weight row is dequantized once and reused for
/// every position, which is also how the GPU matmul reads weights.
pub fn matmul(w: &HostTensor, first_row: usize, n_rows: usize, x: &[f32]) -> Vec<f32> {
    let cols = w.cols();
    let t = x.len() / cols;
    let mut row = vec![0.0; cols];
    let mut y = vec![0.0; t * n_rows];
    for r in 0..n_rows {
        w.dequantize_row(first_row + r, &mut row);
        for (ti, xr) in x.chunks(cols).enumerate() {
            y[ti * n_rows + r] = dot(&row, xr);
        }
    }
    y
}

/// `y = x W^T` over the whole matrix.
pub fn linear(w: &HostTensor, x: &[f32]) -> Vec<f32> {
    matmul(w, 0, w.rows(), x)
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `silu(gate) * up`, elementwise.
pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter().zip(up).map(|(&g, &u)| silu(g) * u).collect()
}

/// `x += y`, elementwise.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `x += y`, then the rms_norm of the sum: the residual add and the next block's norm.
pub fn add_rms_norm(x: &mut [f32], y: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    add(x, y);
    rms_norm(x, w, eps)
}

/// The output of a mixture-of-experts layer from its experts' outputs: row t is the sum over
/// slots s (in order, from 0) of weights[t, s] * down[t, s]. down: (T * k, n), weights: (T, k).
pub fn moe_combine(down: &[f32], weights: &[f32], k: usize) -> Vec<f32> {
    let n = down.len() / weights.len().max(1);
    let mut out = vec![0.0; down.len() / k.max(1)];
    for (t, row) in out.chunks_mut(n).enumerate() {
        for (c, o) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for s in 0..k {
                acc += weights[t * k + s] * down[(t * k + s) * n + c];
            }
            *o = acc;
        }
    }
    out
}

/// RoPE, NEOX style, in place. x is (T, n_heads * head_dim); row t has position pos0 + t.
/// In each head, element i pairs with i + head_dim/2 and turns by `pos * theta^(-2i/head_dim)`.
/// Frequencies and angles are f32, as transformers computes them, so long contexts round alike.
pub fn rope(x: &mut [f32], row_len: usize, pos0: usize, head_dim: usize, theta: f32) {
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect();
    for (t, row) in x.chunks_mut(row_len).enumerate() {
        let pos = (pos0 + t) as f32;
        for head in row.chunks_mut(head_dim) {
            for (i, &f) in inv_freq.iter().enumerate() {
                let (sin, cos) = (pos * f).sin_cos();
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * cos - b * sin;
                head[i + half] = b * cos + a * sin;
            }
        }
    }
}

/// The short convolution of a conv block, after `in_proj`: `bcx` is (T, 3H) holding B | C | x
/// per position; `kernel` is (H, L) with tap L-1 on the current token; `tail` (L-1, H) holds
/// the last L-1 values of `B*x` before these positions, oldest first, and is updated.
/// Returns `C * conv(B*x)`: (T, H).
pub fn short_conv(bcx: &[f32], kernel: &[f32], tail: &mut [f32], hidden: usize) -> Vec<f32> {
    let taps = kernel.len() / hidden;
    // history = tail ++ B*x over the new positions: (L-1+T, H)
    let mut history = tail.to_vec();
    for row in bcx.chunks(3 * hidden) {
        let (b, x) = (&row[..hidden], &row[2 * hidden..]);
        history.extend(b.iter().zip(x).map(|(b, x)| b * x));
    }
    let t = bcx.len() / (3 * hidden);
    let mut gated = vec![0.0; t * hidden];
    for ti in 0..t {
        let c_gate = &bcx[ti * 3 * hidden + hidden..][..hidden];
        for ch in 0..hidden {
            let y: f32 = (0..taps).map(|j| kernel[ch * taps + j] * history[(ti + j) * hidden + ch]).sum();
            gated[ti * hidden + ch] = c_gate[ch] * y;
        }
    }
    tail.copy_from_slice(&history[history.len() - tail.len()..]);
    gated
}

/// Causal GQA attention of T new queries at positions pos0.. over a cache that already holds
/// them: q is (T, n_heads * hd); k_cache, v_cache are (pos0 + T, n_kv_heads * hd). Query head
/// h reads kv head h / (n_heads / n_kv_heads); scores are scaled by 1/sqrt(hd).
/// Returns (T, n_heads * hd).
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    pos0: usize,
    n_heads: usize,
    n_kv_heads: usize,
    hd: usize,
) -> Vec<f32> {
    let (q_width, kv_width) = (n_heads * hd, n_kv_heads * hd);
    let t = q.len() / q_width;
    let group = n_heads / n_kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0.0; t * q_width];
    for ti in 0..t {
        let n_ctx = pos0 + ti + 1; // causal: this position and everything before it
        for h in 0..n_heads {
            let kvh = h / group;
            let qh = &q[ti * q_width + h * hd..][..hd];
            let mut scores: Vec<f32> =
                (0..n_ctx).map(|p| dot(qh, &k_cache[p * kv_width + kvh * hd..][..hd]) * scale).collect();
            softmax(&mut scores);
            let oh = &mut out[ti * q_width + h * hd..][..hd];
            for (p, &s) in scores.iter().enumerate() {
                for (o, v) in oh.iter_mut().zip(&v_cache[p * kv_width + kvh * hd..][..hd]) {
                    *o += s * v;
                }
            }
        }
    }
    out
}

/// MoE routing of T tokens: `logits` (T, E) -> (selected (T, k), weights (T, k)). The scores
/// are sigmoid(logits); the k best of `score + bias` are chosen (bias only chooses; ties go to
/// the lower expert), best first; weights are their scores over (their sum + 1e-6).
pub fn moe_route(logits: &[f32], bias: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let (mut selected, mut weights) = (Vec::new(), Vec::new());
    for row in logits.chunks(bias.len()) {
        let scores: Vec<f32> = row.iter().map(|&l| sigmoid(l)).collect();
        let biased: Vec<f32> = scores.iter().zip(bias).map(|(s, b)| s + b).collect();
        let mut idx: Vec<usize> = (0..biased.len()).collect();
        idx.sort_by(|&a, &b| biased[b].total_cmp(&biased[a]).then(a.cmp(&b)));
        let sum: f32 = idx[..k].iter().map(|&e| scores[e]).sum();
        selected.extend(idx[..k].iter().map(|&e| e as u32));
        weights.extend(idx[..k].iter().map(|&e| scores[e] / (sum + 1e-6)));
    }
    (selected, weights)
}

/// Softmax in place, max-subtracted.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}
