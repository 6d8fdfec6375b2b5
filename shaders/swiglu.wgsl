// out = silu(gate) * up, elementwise (common/silu.wgsl).

#include "common/silu.wgsl"

struct Params {
    n: u32, // elements
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;      // (n)
@group(0) @binding(2) var<storage, read> up: array<f32>;        // (n)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (n)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size;
    if (i < params.n) {
        out[i] = silu_mul(gate[i], up[i]);
    }
}
