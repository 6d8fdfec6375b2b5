// RoPE, NEOX style, in place: in each head, element i pairs with i + head_dim/2 and turns by
// angle (pos0 + t) * inv_freq[i]. inv_freq comes from the host (computed exactly as the
// reference does) and the angle is one f32 multiply, so angles match the reference bit for
// bit even at 1e5-token positions; sincos reduces them exactly. One thread per pair.

#include "common/trig.wgsl"

struct Params {
    row_len: u32, // elements per token row: n_heads * head_dim
    half: u32,    // head_dim / 2
    pos0: u32,    // position of row 0
    n_pairs: u32, // T * n_heads * half
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;  // (T, n_heads * head_dim)
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (head_dim / 2)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = gid.x + gid.y * nwg.x * wg_size;
    if (p >= params.n_pairs) {
        return;
    }
    let i = p % params.half;
    let head = p / params.half; // counted over all tokens
    let heads_per_row = params.row_len / (2u * params.half);
    let t = head / heads_per_row;
    let angle = f32(params.pos0 + t) * inv_freq[i];
    let sc = sincos(angle);
    let ia = head * 2u * params.half + i;
    let ib = ia + params.half;
    let a = x[ia];
    let b = x[ib];
    x[ia] = a * sc.y - b * sc.x;
    x[ib] = b * sc.y + a * sc.x;
}
