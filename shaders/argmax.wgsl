// The index of the largest of one row of n logits, the lowest index on ties (greedy
// decoding; `lfm_webgpu::sampling::argmax`). One workgroup: each thread keeps the first
// maximum of a strided share, then a tree reduction that prefers the lower index on ties.

struct Params {
    n: u32,         // elements in the row (V)
    offset: u32,    // element offset of the row in `logits`
    out_index: u32, // element of `out` that receives the token id
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;    // (rows, n): the row at `offset`
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // token ids

override wg_size: u32 = 256u; // a power of two, at most 256

var<workgroup> best_v: array<f32, wg_size>;
var<workgroup> best_i: array<u32, wg_size>; // n: no element

@compute @workgroup_size(wg_size)
fn argmax(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    var bv = 0.0;
    var bi = params.n;
    for (var i = t; i < params.n; i += wg_size) {
        let v = logits[params.offset + i];
        if (bi == params.n || v > bv) {
            bv = v;
            bi = i;
        }
    }
    best_v[t] = bv;
    best_i[t] = bi;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            let ov = best_v[t + s];
            let oi = best_i[t + s];
            let mine = best_i[t];
            if (oi < params.n && (mine == params.n || ov > best_v[t] || (ov == best_v[t] && oi < mine))) {
                best_v[t] = ov;
                best_i[t] = oi;
            }
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        out[params.out_index] = best_i[0];
    }
}
