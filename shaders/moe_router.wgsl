// Router of a mixture-of-experts layer in one launch, one workgroup per token: the E logits
// W x (ROWS rows at a time, through common/dot_rows.wgsl), then the top-k choice of
// common/route.wgsl with one thread per expert. Saves the launch of a separate router
// matvec (on a GPU a launch costs more than reading these few rows).
// The host prepends the router matrix's quant helper (pipeline `moe_router_<type>`).

struct Params {
    n_experts: u32,  // E = rows of W, at most wg_size
    k: u32,          // experts per token, at most E
    n_tokens: u32,   // T
    cols4: u32,      // elements per row / 4
    scale_base: u32, // word offset of the split f16 scales (repacked types)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;              // (E, cols) in GpuMatrix layout, one part
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;        // (T, cols / 4)
@group(0) @binding(3) var<storage, read> bias: array<f32>;           // (E) expert bias
@group(0) @binding(4) var<storage, read_write> selected: array<u32>; // (T, k) expert ids, best first
@group(0) @binding(5) var<storage, read_write> weights: array<f32>;  // (T, k)

override wg_size: u32 = 64u; // at least E, at most 256

#include "common/dot_rows.wgsl"
#include "common/route.wgsl"

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
    // Thread e keeps the logit of expert e from the row group that holds it.
    var logit = 0.0;
    for (var r0 = 0u; r0 < n; r0 += ROWS) {
        // Rows past E repeat the last row (in bounds); nobody keeps them.
        let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(n - 1u));
        let rows_b = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(n - 1u));
        let sums = dot_rows(lid.x, rows * units_per_row, rows_b * units_per_row, t * params.cols4, params.cols4);
        if (lid.x >= r0 && lid.x < r0 + ROWS) {
            logit = row_sum(sums, lid.x - r0);
        }
    }
    route_token(t, lid.x, logit);
}
