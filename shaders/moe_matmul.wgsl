// The routed experts' products of a mixture-of-experts prefill as tiled matrix products
// (`Tuning::moe_matmul`): each expert's pairs, sorted by `moe_sort`, are the tokens of a
// `matmul_wide` tile (64 pairs x 64 rows: common/wide_tile.wgsl), so each weight is
// decoded once per 64 pairs routed to its expert instead of once per 4 (`moe_batch_matvec`).
//   y[ts] = W_e x[t] (or x[ts]) for the pairs ts of expert e.
// Workgroups: x the row tile, y the tile of the expert's pairs, z the expert within this part;
// tiles past the expert's pairs exit at once. With `paired_rows` the part holds a pair of
// stacked experts interleaved (gate_e then up_e, as in moe_matvec): a tile takes 32 gate rows
// and the same 32 up rows and writes y = silu(gate) * up for the 32.
// The host prepends a quant helper (pipeline `moe_matmul_<type>`) and issues one dispatch per
// GpuMatrix part (each holds whole experts).

#include "common/expert_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (n_experts * expert_stride, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4) or (T * k, cols / 4)
@group(0) @binding(3) var<storage, read> order: array<u32>;   // from moe_sort (common/expert_order.wgsl)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (T * k, rows_per_expert)

override paired_rows: bool = false;

#include "common/expert_order.wgsl"
#include "common/silu.wgsl"
#include "common/wide_tile.wgsl"

var<workgroup> x_rows: array<u32, 64>; // each tile pair's row of x (NONE past the pairs)
var<workgroup> w_rows: array<u32, 64>; // each tile row's part-local row of w (NONE past the expert)

const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(8, 8)
fn moe_matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let e = params.expert0 + wid.z;
    let first = order[2u * e];
    let count = order[2u * e + 1u];
    let p0 = wid.y * TILE; // the tile's first pair, among the expert's
    let rpe = params.rows_per_expert;
    let outs = select(TILE, TILE / 2u, paired_rows); // rows of y a tile writes
    let r0 = wid.x * outs;
    if (p0 >= count || r0 >= rpe) {
        return; // uniform: depends on the workgroup only
    }
    let flat = lid.y * 8u + lid.x;
    // Thread `flat` looks up tile pair `flat`'s x row and tile row `flat`'s w row once.
    var xr = NONE;
    if (p0 + flat < count) {
        let pair = order[ORDER_PAIRS + first + p0 + flat];
        xr = select(pair / params.k, pair, params.x_per_slot != 0u);
    }
    x_rows[flat] = xr;
    let half = select(flat, flat & 31u, paired_rows); // the row within the expert's half
    var wr = NONE;
    if (r0 + half < rpe) {
        let up = select(0u, rpe, paired_rows && flat >= 32u);
        wr = wid.z * params.expert_stride + params.row_offset + up + r0 + half;
    }
    w_rows[flat] = wr;
    workgroupBarrier();
    let units_per_block = QK / 4u;
    let blocks_per_row = params.cols4 / units_per_block;
    var acc: array<vec4<f32>, 16>; // see common/wide_tile.wgsl
    for (var k0 = 0u; k0 < params.cols4; k0 += KU) {
        for (var l = 0u; l < 8u; l++) {
            let slot = tile_slot(flat, l); // (tile row, unit in the step, index)
            let r = slot.x;
            let u = k0 + slot.y;
            var xv = vec4<f32>(0.0);
            if (x_rows[r] != NONE && u < params.cols4) {
                xv = x[x_rows[r] * params.cols4 + u];
            }
            xs[slot.z] = xv;
            var wv = vec4<f32>(0.0);
            if (w_rows[r] != NONE && u < params.cols4) {
                wv = dequant4(w_rows[r] * blocks_per_row + u / units_per_block, u % units_per_block);
            }
            ws[slot.z] = wv;
        }
        workgroupBarrier();
        tile_products(lid, &acc);
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let p = p0 + lid.y + 8u * i;
        if (p < count) {
            let pair = order[ORDER_PAIRS + first + p];
            let at = pair * rpe + r0 + lid.x;
            if (paired_rows) {
                // acc[2i] holds gate rows lid.x + 0, 8, 16, 24 and acc[2i + 1] the same up rows.
                let g = acc[2u * i];
                let v = acc[2u * i + 1u];
                let out = vec4<f32>(silu_mul(g.x, v.x), silu_mul(g.y, v.y), silu_mul(g.z, v.z), silu_mul(g.w, v.w));
                store_tile_rows(at, r0 + lid.x, rpe, out);
            } else {
                store_tile_rows(at, r0 + lid.x, rpe, acc[2u * i]);
                store_tile_rows(at + 32u, r0 + lid.x + 32u, rpe, acc[2u * i + 1u]);
            }
        }
    }
}
