// The end of a decoded token's mixture-of-experts layer in one launch: the down projections
// of its k routed experts, their weighted sum and the residual add,
//   y[t] += sum over slots s of weights[t, s] * (W_e x[t, s]),   e = selected[t, s],
// where `moe_matvec` then `moe_add_rms_norm` are two launches (the norm after it is taken by
// the kernels that read the stream: common/x_normed.wgsl, `Tuning::fused_norms`). A workgroup
// computes `wg_rows` rows of y (ROWS unless the host asks for fewer) for all k slots with
// moe_matvec's loop and sums (common/dot_rows.wgsl), then adds them as moe_add_rms_norm does:
// slots in order from 0, then y + sum. The stack lies in one buffer (the host checks). The
// host prepends a quant helper (pipeline `moe_down_add_<type>`).

#include "common/expert_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, (E * rows_per_expert, cols) in GpuMatrix layout, one part (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, the experts' hidden vectors, (T * k, cols / 4): storage, or uniform on CPU adapters
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> selected: array<u32>; // (T, k) expert ids
@group(0) @binding(4) var<storage, read> weights: array<f32>;  // (T, k) routing weights
@group(0) @binding(5) var<storage, read_write> y: array<f32>;  // (T, rows_per_expert) the residual stream, updated

override wg_size: u32 = 64u; // a power of two, at most 256
override slots: u32 = 1u;    // k, at most MAX_SLOTS, set by the host: a constant trip count
const MAX_SLOTS: u32 = 8u;

#include "common/dot_rows.wgsl"

@compute @workgroup_size(wg_size)
fn moe_down_add(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Row groups are folded into x and y; z is the token.
    let r0 = (wid.x + wid.y * nwg.x) * wg_rows;
    let t = wid.z;
    let rpe = params.rows_per_expert;
    if (r0 >= rpe) {
        return; // uniform: depends on the workgroup only
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows past the end repeat the expert's last row (in bounds) and are not stored.
    let last = vec4<u32>(rpe - 1u);
    let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last);
    let rows_b = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last);
    // Every slot's loads first, then the workgroup sums: the slots' loads overlap.
    var partials: array<RowSums, MAX_SLOTS>;
    for (var s = 0u; s < slots; s++) {
        let ts = t * params.k + s;
        let first = vec4<u32>((selected[ts] - params.expert0) * params.expert_stride + params.row_offset);
        partials[s] = row_partials(lid.x, (first + rows) * units_per_row, (first + rows_b) * units_per_row, ts * params.cols4, params.cols4);
    }
    var acc = 0.0;
    for (var s = 0u; s < slots; s++) {
        let sums = reduce_rows(lid.x, partials[s]);
        acc += weights[t * params.k + s] * row_sum(sums, lid.x);
    }
    if (lid.x < wg_rows && r0 + lid.x < rpe) {
        let i = t * rpe + r0 + lid.x;
        y[i] = y[i] + acc;
    }
}
