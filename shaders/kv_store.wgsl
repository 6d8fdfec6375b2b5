// Writes new K and V rows into one block buffer of a KV cache, in its precision
// (common/kv_elements.wgsl: f16 pairs or f32): rows src_row0 .. + n_rows of k_new / v_new go
// to block-local positions dst_row0 .. + n_rows. A sequence crossing block boundaries takes one
// dispatch per block (the host splits it). One thread per pair of elements.

#include "common/kv_elements.wgsl"

struct Params {
    row_pairs: u32, // n_kv_heads * head_dim / 2: element pairs per cached row
    src_row0: u32,  // first row of k_new / v_new
    dst_row0: u32,  // its position inside this block
    n: u32,         // pairs written: n_rows * row_pairs
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k_new: array<vec2<f32>>; // (T, row_pairs) pairs of f32
@group(0) @binding(2) var<storage, read> v_new: array<vec2<f32>>; // (T, row_pairs) pairs of f32
@group(0) @binding(3) var<storage, read_write> k_block: array<KvPair>; // (block positions, row_pairs)
@group(0) @binding(4) var<storage, read_write> v_block: array<KvPair>; // (block positions, row_pairs)

override wg_size: u32 = 64u;

@compute @workgroup_size(wg_size)
fn kv_store(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * wg_size;
    if (i >= params.n) {
        return;
    }
    let src = params.src_row0 * params.row_pairs + i;
    let dst = params.dst_row0 * params.row_pairs + i;
    k_block[dst] = kv_pack(k_new[src]);
    v_block[dst] = kv_pack(v_new[src]);
}
