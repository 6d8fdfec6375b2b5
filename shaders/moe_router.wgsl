// Router of a mixture-of-experts layer, fused with its matrix-vector product: one workgroup per
// token computes the E router logits (rows of W dotted with x, common/dot_rows.wgsl, any weight
// format), then makes the top-k choice of common/top_k_route.wgsl. One launch where `matvec`
// and `moe_route` are two; CPU adapters only (`Tuning::fused_router`): on a GPU the one
// workgroup per token reading the whole router is slower than the two launches (H200: 33
// against 20 us a layer).

struct Params {
    cols4: u32,      // elements per row of W / 4
    n_experts: u32,  // E: rows of W, at most MAX_EXPERTS
    k: u32,          // experts per token, at most E
    n_tokens: u32,   // T
    scale_base: u32, // word offset of W's split f16 scales (repacked types)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, (E, cols) router weights in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, (T, cols / 4): storage, or uniform on CPU adapters
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> bias: array<f32>;           // (E) expert bias
@group(0) @binding(4) var<storage, read_write> selected: array<u32>; // (T, k) expert ids, best first
@group(0) @binding(5) var<storage, read_write> weights: array<f32>;  // (T, k)

override wg_size: u32 = 64u; // a power of two, at most 256

#include "common/dot_rows.wgsl"
#include "common/top_k_route.wgsl"

@compute @workgroup_size(wg_size)
fn moe_router(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let t = wid.x + wid.y * nwg.x; // tokens folded into y past 65535 workgroups
    if (t >= params.n_tokens) {
        return; // uniform: depends on the workgroup only
    }
    let n = params.n_experts;
    let units_per_row = params.cols4 / (UNIT / 4u);
    // The logits, ROWS experts at a time; rows past E repeat the last (not stored).
    let last = vec4<u32>(n - 1u);
    for (var r0 = 0u; r0 < n; r0 += ROWS) {
        let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last);
        let rows_b = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last);
        let sums = dot_rows(lid.x, rows * units_per_row, rows_b * units_per_row, t * params.cols4, params.cols4);
        let e = r0 + lid.x;
        if (lid.x < ROWS && e < n) {
            let s = sigmoid(row_sum(sums, lid.x));
            score[e] = s;
            biased[e] = s + bias[e];
        }
    }
    route_top_k(lid.x, n);
    store_route(lid.x, t);
}
