// Y = X W^T for many vectors (prefill), in tiles of 64 tokens x 64 weight rows
// (common/wide_tile.wgsl: 8 x 8 register blocks a thread): matmul's kernel with twice the
// tile a side (`Tuning::matmul_wide`, GPUs), so each weight is dequantized into workgroup
// memory once per 64 tokens.
// The host prepends a quant helper (pipeline `matmul_wide_<type>`) and issues one dispatch per
// GpuMatrix part touched.

#include "common/row_span_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (part_rows, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

#include "common/wide_tile.wgsl"

@compute @workgroup_size(8, 8)
fn matmul_wide(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * TILE; // first row of the tile, dispatch-relative
    let tok0 = wid.y * TILE;
    let flat = lid.y * 8u + lid.x;
    let units_per_block = QK / 4u;
    let blocks_per_row = params.cols4 / units_per_block;
    var acc: array<vec4<f32>, 16>; // see common/wide_tile.wgsl
    for (var k0 = 0u; k0 < params.cols4; k0 += KU) {
        // Each of the 64 threads loads 8 of the 512 units of each tile; out-of-range rows,
        // tokens and units load zeros so the products need no checks.
        for (var l = 0u; l < 8u; l++) {
            let slot = tile_slot(flat, l); // (tile row, unit in the step, index)
            let r = slot.x;
            let u = k0 + slot.y;
            var xv = vec4<f32>(0.0);
            if (tok0 + r < params.n_tokens && u < params.cols4) {
                xv = x[(tok0 + r) * params.cols4 + u];
            }
            xs[slot.z] = xv;
            var wv = vec4<f32>(0.0);
            if (row0 + r < params.n_rows && u < params.cols4) {
                let blk = (params.part_row0 + row0 + r) * blocks_per_row + u / units_per_block;
                wv = dequant4(blk, u % units_per_block);
            }
            ws[slot.z] = wv;
        }
        workgroupBarrier();
        tile_products(lid, &acc);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let t = tok0 + lid.y + 8u * i;
        if (t < params.n_tokens) {
            let at = t * params.y_stride + params.y_col0 + row0 + lid.x;
            store_tile_rows(at, row0 + lid.x, params.n_rows, acc[2u * i]);
            store_tile_rows(at + 32u, row0 + lid.x + 32u, params.n_rows, acc[2u * i + 1u]);
        }
    }
}
