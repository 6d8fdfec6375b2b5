// The routed experts' silu(gate) * up of a decoded token, routed in the same launch: each
// workgroup makes its token's top-k choice from the router's logits (common/top_k_route.wgsl:
// E values, cheap) and then computes 4 rows of its (token, slot)'s expert like `moe_matvec`
// with `gate_up` (4 gate rows and the same 4 up rows of an interleaved pair, y = silu(a) * b).
// One launch where `moe_route` and `moe_matvec` are two. The first row group of slot 0 of the
// first part also writes the choice to `selected` and `weights` for the down projection and
// the weighted sum. GPUs only (`Tuning::route_in_gate_up`); the host prepends a quant helper
// (pipeline `moe_route_gate_up_<type>`) and issues one dispatch per GpuMatrix part.

struct Params {
    // The expert kernels' params (as moe_matvec's):
    cols4: u32,           // elements per row / 4
    rows_per_expert: u32, // rows of one expert = elements per y row
    expert0: u32,         // first expert held by this part
    n_experts: u32,       // experts held by this part
    k: u32,               // slots per token (columns of selected)
    x_per_slot: u32,      // 0: x has one row per token
    scale_base: u32,      // word offset of the part's split f16 scales (repacked types)
    expert_stride: u32,   // buffer rows from one expert's first row to the next's (2 * rows_per_expert)
    row_offset: u32,      // buffer row of the part's first expert's first gate row
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // The routing's:
    n_routed: u32,        // E: experts the router chooses among, at most MAX_EXPERTS
    store: u32,           // 1: this dispatch writes selected and weights
    _pad3: u32,
    _pad4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: interleaved [gate_e | up_e] in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, (T, cols / 4): storage, or uniform on CPU adapters
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> logits: array<f32>;         // (T, E) router logits
@group(0) @binding(4) var<storage, read> bias: array<f32>;           // (E) expert bias
@group(0) @binding(5) var<storage, read_write> selected: array<u32>; // (T, k) expert ids, best first
@group(0) @binding(6) var<storage, read_write> weights: array<f32>;  // (T, k)
@group(0) @binding(7) var<storage, read_write> y: array<f32>;        // (T * k, rows_per_expert)

override wg_size: u32 = 64u; // a power of two, at most 256

#include "common/dot_rows.wgsl"
#include "common/silu.wgsl"
#include "common/top_k_route.wgsl"
#include "common/route_scores.wgsl"

@compute @workgroup_size(wg_size)
fn moe_route_gate_up(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Row groups are folded into x and y; z is the (token, slot) pair.
    let r0 = (wid.x + wid.y * nwg.x) * (wg_rows / 2u); // gate rows (the host sets paired_rows)
    let ts = wid.z;
    let t = ts / params.k;
    let slot = ts % params.k;
    let n = params.n_routed;
    load_route_scores(lid.x, t, n);
    route_top_k(lid.x, n);
    if (params.store != 0u && slot == 0u && r0 == 0u) {
        store_route(lid.x, t);
    }
    let rpe = params.rows_per_expert;
    // Part-local expert; wraps past n_experts when the expert precedes this part.
    let local = workgroupUniformLoad(&ranked[slot]) - params.expert0;
    if (r0 >= rpe || local >= params.n_experts) {
        return; // uniform: the workgroup's routing and position only
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows past the end repeat the expert's last row (in bounds) and are not stored.
    let first = vec4<u32>(local * params.expert_stride + params.row_offset);
    let gate = first + min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(rpe - 1u));
    let sums = dot_rows(lid.x, gate * units_per_row, (gate + vec4<u32>(rpe)) * units_per_row, t * params.cols4, params.cols4);
    if (lid.x < wg_rows / 2u && r0 + lid.x < rpe) {
        y[ts * rpe + r0 + lid.x] = silu_mul(row_sum(sums, lid.x), row_sum(sums, lid.x + 4u));
    }
}
