// Expert matrix-vector products of a mixture-of-experts prefill, 4 (token, slot) pairs of
// one expert at a time: the work items of `moe_group` (items[0].x of them; item i =
// items[1 + 2i] (expert, pairs) and items[2 + 2i] the pair indices t * k + s). A workgroup
// computes ROWS (8) rows of the item's expert for its pairs like `batch_matvec`, so each
// weight unit is decoded once for up to 4 pairs: y[ts] = W_e x[t] (or x[ts]).
// The host prepends a quant helper (pipeline `moe_batch_matvec_<type>`) and issues one
// dispatch per GpuMatrix part (each holds whole experts); workgroups whose item is past the
// count or whose expert lies in another part exit at once.

#include "common/expert_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (n_experts * rows_per_expert, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;     // (T, cols / 4) or (T * k, cols / 4)
@group(0) @binding(3) var<storage, read> items: array<vec4<u32>>; // (1 + 2 * max items, 4) from moe_group
@group(0) @binding(4) var<storage, read_write> y: array<f32>;     // (T * k, rows_per_expert)

override wg_size: u32 = 64u; // a power of two, at most 256
// With `paired_rows` (common/dot_rows.wgsl), the part holds a pair of stacked experts
// interleaved (gate_e, then up_e: expert_stride is 2 * rows_per_expert): a workgroup takes 4
// rows of the gate half (a) and the same 4 of the up half (b) and writes y = silu(a) * b
// (common/silu.wgsl). (`wg_rows` stays ROWS here.)

#include "common/dot_rows.wgsl"
#include "common/silu.wgsl"

@compute @workgroup_size(wg_size)
fn moe_batch_matvec(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let outs = select(ROWS, ROWS / 2u, paired_rows); // rows of y a workgroup writes
    let r0 = (wid.x + wid.y * nwg.x) * outs;
    let item = wid.z;
    let rpe = params.rows_per_expert;
    if (item >= items[0].x || r0 >= rpe) {
        return; // uniform: depends on the workgroup only
    }
    let head = items[1u + 2u * item];
    let pairs = items[2u + 2u * item];
    // Part-local expert; wraps past n_experts when the expert precedes this part.
    let local = head.x - params.expert0;
    if (local >= params.n_experts) {
        return;
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows past the end repeat the expert's last row (in bounds) and are not stored.
    let first = vec4<u32>(local * params.expert_stride + params.row_offset);
    let last = vec4<u32>(rpe - 1u);
    let rows = first + min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), last);
    let rows_b = select(first + min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), last), rows + vec4<u32>(rpe), paired_rows);
    let x_rows = select(pairs / vec4<u32>(params.k), pairs, params.x_per_slot != 0u);
    let sums = dot_rows4(lid.x, rows * units_per_row, rows_b * units_per_row, x_rows * params.cols4, params.cols4);
    if (lid.x < outs && r0 + lid.x < rpe) {
        for (var i = 0u; i < head.y; i++) {
            var out = row_sum(sums[i], lid.x);
            if (paired_rows) {
                out = silu_mul(out, row_sum(sums[i], lid.x + 4u));
            }
            y[pairs[i] * rpe + r0 + lid.x] = out;
        }
    }
}
