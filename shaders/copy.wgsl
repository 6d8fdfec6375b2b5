// dst = src, 16 bytes per invocation: the simplest kernel that moves memory, so its speed is
// the adapter's practical bandwidth, the yardstick for every bandwidth-bound kernel.

struct Params {
    n_vec4: u32, // vec4 elements to copy
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;       // (n_vec4)
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>; // (n_vec4)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size; // workgroups folded into y past 65535
    if (i < params.n_vec4) {
        dst[i] = src[i];
    }
}
