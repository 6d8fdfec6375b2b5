// The attention block's step between its projections and attention, in one launch: each query
// head is RMS-normed with q_norm and roped in place; each kv head's K is normed with k_norm,
// roped and stored in the KV cache with its V, in the cache's precision
// (common/kv_elements.wgsl). It replaces rms_norm (q), rms_norm (k), rope (q), rope (k) and
// kv_store: four launches fewer per attention layer and token. The same arithmetic as those
// kernels: x * (1 / sqrt(mean(x^2) + eps)) * w, then NEOX RoPE by angle (pos0 + t) * inv_freq[i].
//
// One workgroup per (token, head), query heads first, then kv heads. Thread p takes the
// elements 2p, 2p + 1 and their rope partners 2p + half, 2p + half + 1: two whole pairs of
// the cache row. A dispatch covers the tokens whose positions lie in ONE cache block; the host
// issues one per block touched, so every token (and its query heads) is done exactly once.

#include "common/kv_elements.wgsl"
#include "common/trig.wgsl"

struct Params {
    n_heads: u32,    // query heads
    n_kv_heads: u32, // kv heads
    src_row0: u32,   // first token of this dispatch (row of q, k, v)
    dst_row0: u32,   // its position inside the cache block
    n_rows: u32,     // tokens of this dispatch
    pos0: u32,       // absolute position of token row 0 of the step
    eps: f32,        // RMS norm epsilon
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;    // (T, n_heads * head_dim): raw in, normed and roped out
@group(0) @binding(2) var<storage, read> k: array<f32>;          // (T, n_kv_heads * head_dim) raw
@group(0) @binding(3) var<storage, read> v: array<vec2<f32>>;    // (T, n_kv_heads * head_dim / 2) pairs
@group(0) @binding(4) var<storage, read> q_norm: array<f32>;     // (head_dim)
@group(0) @binding(5) var<storage, read> k_norm: array<f32>;     // (head_dim)
@group(0) @binding(6) var<storage, read> inv_freq: array<f32>;   // (head_dim / 2)
@group(0) @binding(7) var<storage, read_write> k_block: array<KvPair>; // (block positions, n_kv_heads * head_dim / 2)
@group(0) @binding(8) var<storage, read_write> v_block: array<KvPair>; // (block positions, n_kv_heads * head_dim / 2)

override wg_size: u32 = 32u;  // a power of two
override head_dim: u32 = 64u; // a multiple of 4

var<workgroup> partial: array<f32, wg_size>;

// Element i of the head's raw row starting at `base` (query or key; uniform per workgroup).
fn raw(is_q: bool, i: u32) -> f32 {
    if (is_q) {
        return q[i];
    }
    return k[i];
}

fn norm_weight(is_q: bool, i: u32) -> f32 {
    if (is_q) {
        return q_norm[i];
    }
    return k_norm[i];
}

@compute @workgroup_size(wg_size)
fn qk_norm_rope_store(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let heads = params.n_heads + params.n_kv_heads;
    let g = wid.x + wid.y * nwg.x; // workgroups folded into y past 65535
    if (g >= params.n_rows * heads) {
        return; // uniform: depends on the workgroup only
    }
    let r = g / heads;
    let h = g % heads;
    let t = params.src_row0 + r;
    let is_q = h < params.n_heads;
    let kv_head = h - min(h, params.n_heads);
    let kv_row = params.n_kv_heads * head_dim;
    let base = select(t * kv_row + kv_head * head_dim, (t * params.n_heads + h) * head_dim, is_q);
    let half = head_dim / 2u;

    var acc = 0.0;
    for (var p = lid.x; p < half / 2u; p += wg_size) {
        let i = base + 2u * p;
        let a = vec2<f32>(raw(is_q, i), raw(is_q, i + 1u));
        let b = vec2<f32>(raw(is_q, i + half), raw(is_q, i + half + 1u));
        acc += dot(a, a) + dot(b, b);
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    // As the reference: 1 / sqrt(mean + eps), then x * scale * w.
    let scale = 1.0 / sqrt(partial[0] / f32(head_dim) + params.eps);
    let position = f32(params.pos0 + t); // exact below 2^24 (the host checks)
    // The cache row's first pair of this head, and this dispatch's block-local row.
    let pair0 = ((params.dst_row0 + r) * kv_row + kv_head * head_dim) / 2u;
    let v0 = (t * kv_row + kv_head * head_dim) / 2u;
    for (var p = lid.x; p < half / 2u; p += wg_size) {
        let j = 2u * p; // element of the head
        let i = base + j;
        let wa = vec2<f32>(norm_weight(is_q, j), norm_weight(is_q, j + 1u));
        let wb = vec2<f32>(norm_weight(is_q, j + half), norm_weight(is_q, j + half + 1u));
        let a = vec2<f32>(raw(is_q, i), raw(is_q, i + 1u)) * scale * wa;
        let b = vec2<f32>(raw(is_q, i + half), raw(is_q, i + half + 1u)) * scale * wb;
        let s0 = sincos(position * inv_freq[j]);
        let s1 = sincos(position * inv_freq[j + 1u]);
        let sin = vec2<f32>(s0.x, s1.x);
        let cos = vec2<f32>(s0.y, s1.y);
        let ra = a * cos - b * sin;
        let rb = b * cos + a * sin;
        if (is_q) {
            q[i] = ra.x;
            q[i + 1u] = ra.y;
            q[i + half] = rb.x;
            q[i + half + 1u] = rb.y;
        } else {
            k_block[pair0 + p] = kv_pack(ra);
            k_block[pair0 + half / 2u + p] = kv_pack(rb);
            v_block[pair0 + p] = kv_pack(v[v0 + p]);
            v_block[pair0 + half / 2u + p] = kv_pack(v[v0 + half / 2u + p]);
        }
    }
}
