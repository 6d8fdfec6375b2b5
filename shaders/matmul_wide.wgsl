// Y = X W^T for many vectors (prefill), in tiles of 64 tokens x 64 weight rows: matmul's
// kernel with twice the tile a side (`Tuning::matmul_wide`, GPUs). A workgroup of 8 x 8
// threads walks the shared dimension 32 elements at a time, dequantizing its W tile once into
// workgroup memory (each weight decoded once per 64 tokens), and each thread keeps an 8 x 8
// block of the tile in registers (tokens lid.y + 8i, rows lid.x + 8j): 16 products a
// workgroup-memory load, where matmul's 4 x 4 blocks make 8. The tiles' rows are padded by
// one unit so that the 8 rows a warp reads at once fall in different banks.
// The host prepends a quant helper (pipeline `matmul_wide_<type>`) and issues one dispatch per
// GpuMatrix part touched.

struct Params {
    cols4: u32,      // elements per row / 4
    part_row0: u32,  // first row of the dispatch, counted from the start of the part
    n_rows: u32,     // rows in the dispatch
    y_stride: u32,   // y elements per token
    y_col0: u32,     // y column of the dispatch's first row
    scale_base: u32, // word offset of the part's split f16 scales (repacked types)
    n_tokens: u32,   // T
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;       // one part: (part_rows, cols) in GpuMatrix layout
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

const TILE: u32 = 64u; // tokens and rows per workgroup tile
const KU: u32 = 8u;    // vec4 units of the shared dimension per step (32 elements)
const KP: u32 = 9u;    // units a tile row takes in workgroup memory (KU + 1: see above)

var<workgroup> xs: array<vec4<f32>, 576>; // (TILE tokens, KP units)
var<workgroup> ws: array<vec4<f32>, 576>; // (TILE rows, KP units)

@compute @workgroup_size(8, 8)
fn matmul_wide(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * TILE; // first row of the tile, dispatch-relative
    let tok0 = wid.y * TILE;
    let flat = lid.y * 8u + lid.x;
    let units_per_block = QK / 4u;
    let blocks_per_row = params.cols4 / units_per_block;
    // acc[2i + h]: token lid.y + 8i, rows lid.x + 8 (4h + 0..3). The loops below have constant
    // trip counts and GPUs run this without naga's loop guards, so they unroll and the arrays
    // stay in registers.
    var acc: array<vec4<f32>, 16>;
    for (var k0 = 0u; k0 < params.cols4; k0 += KU) {
        // Each of the 64 threads loads 8 of the 512 units of each tile; out-of-range rows,
        // tokens and units load zeros so the products below need no checks.
        for (var l = 0u; l < 8u; l++) {
            let e = flat + 64u * l;
            let r = e / KU;
            let u = k0 + e % KU;
            let at = r * KP + e % KU;
            var xv = vec4<f32>(0.0);
            if (tok0 + r < params.n_tokens && u < params.cols4) {
                xv = x[(tok0 + r) * params.cols4 + u];
            }
            xs[at] = xv;
            var wv = vec4<f32>(0.0);
            if (row0 + r < params.n_rows && u < params.cols4) {
                let blk = (params.part_row0 + row0 + r) * blocks_per_row + u / units_per_block;
                wv = dequant4(blk, u % units_per_block);
            }
            ws[at] = wv;
        }
        workgroupBarrier();
        for (var u = 0u; u < KU; u++) {
            var wv: array<vec4<f32>, 8>;
            for (var j = 0u; j < 8u; j++) {
                wv[j] = ws[(lid.x + 8u * j) * KP + u];
            }
            for (var i = 0u; i < 8u; i++) {
                let xv = xs[(lid.y + 8u * i) * KP + u];
                acc[2u * i] += vec4<f32>(dot(xv, wv[0]), dot(xv, wv[1]), dot(xv, wv[2]), dot(xv, wv[3]));
                acc[2u * i + 1u] += vec4<f32>(dot(xv, wv[4]), dot(xv, wv[5]), dot(xv, wv[6]), dot(xv, wv[7]));
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 8u; i++) {
        let t = tok0 + lid.y + 8u * i;
        if (t < params.n_tokens) {
            store_rows(t, row0 + lid.x, acc[2u * i]);
            store_rows(t, row0 + lid.x + 32u, acc[2u * i + 1u]);
        }
    }
}

// y[t, r + 8j] = v[j] for the rows in range.
fn store_rows(t: u32, r: u32, v: vec4<f32>) {
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
