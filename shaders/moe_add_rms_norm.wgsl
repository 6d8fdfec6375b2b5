// The end of a mixture-of-experts layer, the residual add and the next norm in one pass:
// x += sum over slots s of weights[t, s] * down[t, s] (moe_combine's sum: slots in order,
// from 0), then out = rms_norm(x) * w, per row of n values (one workgroup per token). Saves
// the launch of moe_combine and a round trip of its output; the arithmetic is the
// reference's moe_combine, add, then rms_norm. For GPUs (`Tuning::fused_moe_norm`): on
// llvmpipe one workgroup's slot loops ran 15x slower than moe_combine and add_rms_norm.

struct Params {
    n: u32,    // elements per row (hidden)
    eps: f32,
    n_rows: u32, // T
    k: u32,      // slots per token
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;    // (T, n) residual, updated
@group(0) @binding(2) var<storage, read> down: array<f32>;       // (T, k, n) expert outputs
@group(0) @binding(3) var<storage, read> weights: array<f32>;    // (T, k) routing weights
@group(0) @binding(4) var<storage, read> weight: array<f32>;     // (n) norm weight
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // (T, n)

override wg_size: u32 = 64u; // a power of two, at most 256
override slots: u32 = 1u;    // k, set by the host: a constant trip count (see per_thread)

// Writes the sum back as it is read: each element is read and written by one thread only.
fn value(i: u32) -> f32 {
    var acc = 0.0;
    for (var s = 0u; s < slots; s++) {
        let ts = row * params.k + s;
        acc += weights[ts] * down[ts * params.n + i];
    }
    let v = x[base + i] + acc;
    x[base + i] = v;
    return v;
}

#include "common/row_norm.wgsl"

@compute @workgroup_size(wg_size)
fn moe_add_rms_norm(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    normalize_workgroup_row(lid.x, wid, nwg);
}
