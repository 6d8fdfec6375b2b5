// y = W x for a few vectors (decode). A workgroup computes `wg_rows` consecutive rows (ROWS,
// 8, unless the host asks for fewer) for one vector; the loop over the shared dimension and
// the sum are common/dot_rows.wgsl's.
// The host prepends one quant helper (shaders/quant/<type>.wgsl, pipeline `matvec_<type>`),
// and `quant/dot.wgsl` is that type's dot-unit helper (shaders/dot/); so one kernel serves
// every type.
// A dispatch covers rows part_row0 .. part_row0 + n_rows of ONE GpuMatrix part (a matrix may
// span several buffers) and writes them to y columns y_col0 ..; the host issues one dispatch
// per part touched, which is also how an expert slice of a stacked matrix is selected.

#include "common/row_span_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (part_rows, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
// binding 2: x, (T, cols / 4): storage, uniform on CPU adapters, or normed by the workgroup
// (common/x_normed.wgsl; the host chooses)
#include "common/x_vectors.wgsl"
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

override wg_size: u32 = 64u; // a power of two, at most 256 (WebGPU's portable limit)
// With `paired_rows` (common/dot_rows.wgsl), the part holds a dense MLP's gate rows, then its
// up rows (part_row0 .. + n_rows, then the next n_rows): a workgroup takes wg_rows / 2 gate
// rows and the same up rows and writes y = silu(gate) * up (common/silu.wgsl), one launch
// where two products and `swiglu` are three.
// y += W x: the product added into y (the residual stream) where a block's output projection
// would otherwise be followed by an add (`matvec_add`; the norm after it is taken by the
// kernels that read the stream, common/x_normed.wgsl).
override accumulate: bool = false;

#include "common/dot_rows.wgsl"
#include "common/silu.wgsl"

@compute @workgroup_size(wg_size)
fn matvec(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    prepare_x(lid.x, all(wid == vec3<u32>(0u)));
    // Row groups are folded into x and y: one dimension holds at most 65535 workgroups.
    let outs = select(wg_rows, wg_rows / 2u, paired_rows); // rows of y a workgroup writes
    let r0 = (wid.x + wid.y * nwg.x) * outs;
    let t = wid.z;
    if (r0 >= params.n_rows) {
        return; // uniform: depends on the workgroup only
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows past the end repeat the last row (in bounds) and are not stored.
    let last = params.n_rows - 1u;
    let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    let rows_b = select(min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last)), rows + vec4<u32>(params.n_rows), paired_rows);
    let row0 = vec4<u32>(params.part_row0);
    let sums = dot_rows(lid.x, (row0 + rows) * units_per_row, (row0 + rows_b) * units_per_row, t * params.cols4, params.cols4);
    if (lid.x < outs && r0 + lid.x < params.n_rows) {
        var out = row_sum(sums, lid.x);
        if (paired_rows) {
            out = silu_mul(out, row_sum(sums, lid.x + 4u));
        }
        let i = t * params.y_stride + params.y_col0 + r0 + lid.x;
        if (accumulate) {
            out = y[i] + out; // the add kernels' operand order
        }
        y[i] = out;
    }
}
