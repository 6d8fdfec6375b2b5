// out[t] = row ids[t] of a (quantized) table, dequantized: one thread per 4 output elements.
// The host prepends a quant helper (pipeline `embed_<type>`) and issues one dispatch per
// GpuMatrix part; a dispatch writes only the tokens whose row lies in its part, so ids
// outside the table leave their output row untouched.

struct Params {
    cols4: u32,      // elements per row / 4
    part_row0: u32,  // table row of the part's first row
    part_rows: u32,  // rows in the part
    n_units: u32,    // T * cols4: threads with work
    scale_base: u32, // word offset of the part's split f16 scales (repacked types)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// binding 1: the weights, one part: (part_rows, cols) in GpuMatrix layout (a storage buffer or a texture)
#include "common/weights.wgsl"
@group(0) @binding(2) var<storage, read> ids: array<u32>;             // (T)
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>; // (T, cols / 4)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size;
    if (i >= params.n_units) {
        return;
    }
    let t = i / params.cols4;
    let u = i % params.cols4;
    let id = ids[t];
    if (id < params.part_row0 || id - params.part_row0 >= params.part_rows) {
        return; // another part's dispatch owns this row
    }
    let units_per_block = QK / 4u;
    let blk = (id - params.part_row0) * (params.cols4 / units_per_block) + u / units_per_block;
    out[i] = dequant4(blk, u % units_per_block);
}
