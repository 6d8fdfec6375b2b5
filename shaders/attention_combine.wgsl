// Merges the split-K partials of `attention` (m, l, o per split; empty splits have m = NEG,
// l = 0, o = 0) into the softmax-weighted sum of V of each (query, head):
//   M = max_s m_s,   out[d] = sum_s exp(m_s - M) o_s[d] / sum_s exp(m_s - M) l_s.
// One thread per output element.

struct Params {
    n: u32,        // output elements: T * n_heads * head_dim
    n_splits: u32, // partials per (t, h)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>; // (T * n_heads * n_splits, 2 + head_dim)
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (T, n_heads * head_dim)

override wg_size: u32 = 64u;
override head_dim: u32 = 64u;

@compute @workgroup_size(wg_size)
fn attention_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size;
    if (i >= params.n) {
        return;
    }
    let stride = head_dim + 2u;
    let base = (i / head_dim) * params.n_splits * stride;
    let d = i % head_dim;
    var m = partials[base];
    for (var s = 1u; s < params.n_splits; s++) {
        m = max(m, partials[base + s * stride]);
    }
    var l = 0.0;
    var o = 0.0;
    for (var s = 0u; s < params.n_splits; s++) {
        let at = base + s * stride;
        let w = exp(partials[at] - m);
        l += w * partials[at + 1u];
        o += w * partials[at + 2u + d];
    }
    out[i] = o / l;
}
