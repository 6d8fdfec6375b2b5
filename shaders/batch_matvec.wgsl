// Y = X W^T for a batch of vectors (prefill) on adapters where the tiled `matmul` loses to
// the matrix-vector kernel (CPU adapters: lavapipe, SwiftShader, whose workgroup-memory
// reads are per-lane gathers). A workgroup computes ROWS (8) rows for 4 vectors like
// `matvec` does for one, decoding each weight unit once for the 4 (common/dot_rows.wgsl's
// dot_rows4). The host prepends a quant helper (pipeline `batch_matvec_<type>`) and issues
// one dispatch per GpuMatrix part touched.

#include "common/row_span_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (part_rows, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

override wg_size: u32 = 64u; // a power of two, at most 256

#include "common/dot_rows.wgsl"

@compute @workgroup_size(wg_size)
fn batch_matvec(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Row groups are folded into x and y (at most 65535 workgroups per dimension); z counts
    // groups of 4 vectors.
    let r0 = (wid.x + wid.y * nwg.x) * ROWS;
    let t0 = wid.z * 4u;
    if (r0 >= params.n_rows) {
        return; // uniform: depends on the workgroup only
    }
    let units_per_row = params.cols4 / (UNIT / 4u);
    // Rows and vectors past the end repeat the last one (in bounds) and are not stored.
    let last = params.n_rows - 1u;
    let rows = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    let rows_b = min(vec4<u32>(r0) + vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last));
    let row0 = vec4<u32>(params.part_row0);
    let xt = min(vec4<u32>(t0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(params.n_tokens - 1u)) * params.cols4;
    let sums = dot_rows4(lid.x, (row0 + rows) * units_per_row, (row0 + rows_b) * units_per_row, xt, params.cols4);
    if (lid.x < ROWS && r0 + lid.x < params.n_rows) {
        for (var i = 0u; i < 4u; i++) {
            if (t0 + i < params.n_tokens) {
                y[(t0 + i) * params.y_stride + params.y_col0 + r0 + lid.x] = row_sum(sums[i], lid.x);
            }
        }
    }
}
