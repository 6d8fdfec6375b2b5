// The output of a mixture-of-experts layer: out[t] = sum over slots s of
// weights[t, s] * down[t, s] (slots in order, from 0), one thread per output element.

struct Params {
    n: u32,        // elements per row (hidden)
    k: u32,        // slots per token
    n_units: u32,  // T * n: threads with work
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> down: array<f32>;      // (T, k, n) expert outputs
@group(0) @binding(2) var<storage, read> weights: array<f32>;   // (T, k) routing weights
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (T, n)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn moe_combine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size;
    if (i >= params.n_units) {
        return;
    }
    let t = i / params.n;
    let c = i % params.n;
    var acc = 0.0;
    for (var s = 0u; s < params.k; s++) {
        let ts = t * params.k + s;
        acc += weights[ts] * down[ts * params.n + c];
    }
    out[i] = acc;
}
