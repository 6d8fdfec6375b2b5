// out = x * rsqrt(mean(x^2) + eps) * w per row of n values: one workgroup per row, the sum
// of squares reduced in workgroup memory. The weight is used as is (not 1 + w).

struct Params {
    n: u32,    // elements per row
    eps: f32,
    n_rows: u32, // T
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (T, n)
@group(0) @binding(2) var<storage, read> weight: array<f32>;     // (n)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (T, n)

override wg_size: u32 = 64u; // a power of two, at most 256

fn value(i: u32) -> f32 {
    return x[base + i];
}

#include "common/row_norm.wgsl"

@compute @workgroup_size(wg_size)
fn rms_norm(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    normalize_workgroup_row(lid.x, wid, nwg);
}
