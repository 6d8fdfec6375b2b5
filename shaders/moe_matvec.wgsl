// Expert matrix-vector products of a mixture-of-experts layer, reading only the selected
// experts: y[t, s] = W_e x[t] (or x[t, s]) with e = selected[t, s], W_e rows
// e * rows_per_expert .. (e + 1) * rows_per_expert of a stacked (E * rows_per_expert, cols)
// matrix. The routing stays on the GPU: a workgroup reads its expert from `selected`.
// A workgroup computes `wg_rows` rows (ROWS, 8, unless the host asks for fewer) of one
// (token, slot) like matvec (the loop is shared: common/dot_rows.wgsl). The host prepends a
// quant helper (pipeline `moe_matvec_<type>`) and issues one dispatch per GpuMatrix part (each
// holds whole experts); workgroups whose expert lies in another part exit at once, so each
// expert's rows are read only where selected.

#include "common/expert_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (n_experts * rows_per_expert, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, (T, cols / 4) or (T * k, cols / 4): storage, or uniform on CPU adapters
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read> selected: array<u32>; // (T, k) expert ids
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (T * k, rows_per_expert)

override wg_size: u32 = 64u; // a power of two, at most 256
// With `paired_rows` (common/dot_rows.wgsl), the part holds a pair of stacked experts
// interleaved (gate_e, then up_e: expert_stride is 2 * rows_per_expert): a workgroup takes
// wg_rows / 2 rows of the gate half (a) and the same rows of the up half (b) and writes
// y = silu(a) * b (common/silu.wgsl).

#include "common/dot_rows.wgsl"
#include "common/silu.wgsl"

@compute @workgroup_size(wg_size)
fn moe_matvec(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Row groups are folded into x and y (at most 65535 workgroups per dimension); z is the
    // (token, slot) pair.
    let outs = select(wg_rows, wg_rows / 2u, paired_rows); // rows of y a workgroup writes
    let r0 = (wid.x + wid.y * nwg.x) * outs;
    let ts = wid.z;
    let rpe = params.rows_per_expert;
    // Part-local expert; wraps past n_experts when the expert precedes this part.
    let local = selected[ts] - params.expert0;
    if (r0 >= rpe || local >= params.n_experts) {
        return; // uniform: depends on the workgroup only
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows past the end repeat the expert's last row (in bounds) and are not stored.
    let first = vec4<u32>(local * params.expert_stride + params.row_offset);
    let last = vec4<u32>(rpe - 1u);
    let rows = first + min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last);
    let rows_b = select(first + min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last), rows + vec4<u32>(rpe), paired_rows);
    let x_row = select(ts / params.k, ts, params.x_per_slot != 0u);
    let sums = dot_rows(lid.x, rows * units_per_row, rows_b * units_per_row, x_row * params.cols4, params.cols4);
    if (lid.x < outs && r0 + lid.x < rpe) {
        var out = row_sum(sums, lid.x);
        if (paired_rows) {
            out = silu_mul(out, row_sum(sums, lid.x + 4u));
        }
        y[ts * rpe + r0 + lid.x] = out;
    }
}
