// Y = X W^T for many vectors (prefill), tiled: a workgroup of 8 x 8 threads computes a tile
// of 32 tokens x 32 weight rows, each thread a 4 x 4 block of it. The shared dimension is
// walked 32 elements at a time: the workgroup dequantizes the W tile once into workgroup
// memory, so each weight is read and decoded once per 32 tokens instead of once per token.
// Like matvec, the host prepends a quant helper (pipeline `matmul_<type>`) and issues one
// dispatch per GpuMatrix part touched.

#include "common/row_span_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (part_rows, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

const TILE: u32 = 32u; // tokens and rows per workgroup tile
const KU: u32 = 8u;    // vec4 units of the shared dimension per step (32 elements)

var<workgroup> xs: array<vec4<f32>, 256>; // (TILE tokens, KU units)
var<workgroup> ws: array<vec4<f32>, 256>; // (TILE rows, KU units)

@compute @workgroup_size(8, 8)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * TILE; // first row of the tile, dispatch-relative
    let tok0 = wid.y * TILE;
    let flat = lid.y * 8u + lid.x;
    let units_per_block = QK / 4u;
    let blocks_per_row = params.cols4 / units_per_block;
    // acc_i[j]: token lid.y + 8i, row lid.x + 8j. Four variables, not an array: naga bounds
    // every loop with a counter, so drivers may not unroll a loop over an array's index and
    // the array would then live in memory instead of registers.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < params.cols4; k0 += KU) {
        // Each of the 64 threads loads 4 of the 256 units of each tile; out-of-range
        // rows, tokens and units load zeros so the products below need no checks.
        for (var l = 0u; l < 4u; l++) {
            let e = flat + 64u * l;
            let r = e / KU;
            let u = k0 + e % KU;
            var xv = vec4<f32>(0.0);
            if (tok0 + r < params.n_tokens && u < params.cols4) {
                xv = x[(tok0 + r) * params.cols4 + u];
            }
            xs[e] = xv;
            var wv = vec4<f32>(0.0);
            if (row0 + r < params.n_rows && u < params.cols4) {
                let blk = (params.part_row0 + row0 + r) * blocks_per_row + u / units_per_block;
                wv = dequant4(blk, u % units_per_block);
            }
            ws[e] = wv;
        }
        workgroupBarrier();
        for (var u = 0u; u < KU; u++) {
            let wv = array<vec4<f32>, 4>(
                ws[lid.x * KU + u], ws[(lid.x + 8u) * KU + u], ws[(lid.x + 16u) * KU + u], ws[(lid.x + 24u) * KU + u],
            );
            acc0 += tile_dots(xs[lid.y * KU + u], wv);
            acc1 += tile_dots(xs[(lid.y + 8u) * KU + u], wv);
            acc2 += tile_dots(xs[(lid.y + 16u) * KU + u], wv);
            acc3 += tile_dots(xs[(lid.y + 24u) * KU + u], wv);
        }
        workgroupBarrier();
    }
    store_tile_row(tok0 + lid.y, row0 + lid.x, acc0);
    store_tile_row(tok0 + lid.y + 8u, row0 + lid.x, acc1);
    store_tile_row(tok0 + lid.y + 16u, row0 + lid.x, acc2);
    store_tile_row(tok0 + lid.y + 24u, row0 + lid.x, acc3);
}

// One x unit dotted with the 4 weight units of a thread's rows.
fn tile_dots(xv: vec4<f32>, wv: array<vec4<f32>, 4>) -> vec4<f32> {
    return vec4<f32>(dot(xv, wv[0]), dot(xv, wv[1]), dot(xv, wv[2]), dot(xv, wv[3]));
}

// y[t, r + 8j] = v[j] for the rows and the token in range.
fn store_tile_row(t: u32, r: u32, v: vec4<f32>) {
    if (t >= params.n_tokens) {
        return;
    }
    let at = t * params.y_stride + params.y_col0 + r;
    if (r < params.n_rows) {
        y[at] = v.x;
    }
    if (r + 8u < params.n_rows) {
        y[at + 8u] = v.y;
    }
    if (r + 16u < params.n_rows) {
        y[at + 16u] = v.z;
    }
    if (r + 24u < params.n_rows) {
        y[at + 24u] = v.w;
    }
}
