// The residual add and the next norm in one pass: x += y, then out = rms_norm(x) * w, per
// row of n values (one workgroup per row). Saves a launch and a read of x per block on the
// token's critical path; the arithmetic is the reference's add then rms_norm.

struct Params {
    n: u32,    // elements per row
    eps: f32,
    n_rows: u32, // T
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;    // (T, n) residual, updated
@group(0) @binding(2) var<storage, read> y: array<f32>;          // (T, n) block output
@group(0) @binding(3) var<storage, read> weight: array<f32>;     // (n)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (T, n)

override wg_size: u32 = 64u; // a power of two, at most 256

// Writes the sum back as it is read: each element is read and written by one thread only.
fn value(i: u32) -> f32 {
    let v = x[base + i] + y[base + i];
    x[base + i] = v;
    return v;
}

#include "common/row_norm.wgsl"

@compute @workgroup_size(wg_size)
fn add_rms_norm(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    normalize_workgroup_row(lid.x, wid, nwg);
}
