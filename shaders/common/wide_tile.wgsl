// The 64 x 64 tile of `matmul_wide` and `moe_matmul`: a workgroup of 8 x 8 threads, each
// holding an 8 x 8 block of it in registers (tokens or pairs lid.y + 8i, rows lid.x + 8j), the
// shared dimension walked 32 elements (KU units) at a time through workgroup memory. The
// tiles' rows are padded by one unit so that the 8 rows a warp reads at once fall in different
// banks. 16 products a workgroup-memory load, where matmul's 4 x 4 blocks make 8.

const TILE: u32 = 64u; // tokens (or pairs) and rows per workgroup tile
const KU: u32 = 8u;    // vec4 units of the shared dimension per step (32 elements)
const KP: u32 = 9u;    // units a tile row takes in workgroup memory (KU + 1)

var<workgroup> xs: array<vec4<f32>, 576>; // (TILE tokens, KP units)
var<workgroup> ws: array<vec4<f32>, 576>; // (TILE rows, KP units)

// Where tile element `l` (0..8) of thread `flat` goes: its row of the tile (token or weight
// row), its unit within the step, and its index in xs / ws.
fn tile_slot(flat: u32, l: u32) -> vec3<u32> {
    let e = flat + 64u * l;
    return vec3<u32>(e / KU, e % KU, (e / KU) * KP + e % KU);
}

// Adds the products of the step held in xs and ws to `acc`: acc[2i + h] holds token
// lid.y + 8i against rows lid.x + 8 (4h + 0..3). The loops have constant trip counts and GPUs
// run these kernels without naga's loop guards, so they unroll and the arrays stay in
// registers.
fn tile_products(lid: vec3<u32>, acc: ptr<function, array<vec4<f32>, 16>>) {
    for (var u = 0u; u < KU; u++) {
        var wv: array<vec4<f32>, 8>;
        for (var j = 0u; j < 8u; j++) {
            wv[j] = ws[(lid.x + 8u * j) * KP + u];
        }
        for (var i = 0u; i < 8u; i++) {
            let xv = xs[(lid.y + 8u * i) * KP + u];
            (*acc)[2u * i] += vec4<f32>(dot(xv, wv[0]), dot(xv, wv[1]), dot(xv, wv[2]), dot(xv, wv[3]));
            (*acc)[2u * i + 1u] += vec4<f32>(dot(xv, wv[4]), dot(xv, wv[5]), dot(xv, wv[6]), dot(xv, wv[7]));
        }
    }
}

// y[at + 8j] = v[j] for the rows r + 8j below `end`.
fn store_tile_rows(at: u32, r: u32, end: u32, v: vec4<f32>) {
    if (r < end) {
        y[at] = v.x;
    }
    if (r + 8u < end) {
        y[at + 8u] = v.y;
    }
    if (r + 16u < end) {
        y[at + 16u] = v.z;
    }
    if (r + 24u < end) {
        y[at + 24u] = v.w;
    }
}
