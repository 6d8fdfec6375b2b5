// The body of the row norms (`rms_norm`, `add_rms_norm`, `moe_add_rms_norm`):
// out = x * rsqrt(mean(x^2) + eps) * w over one row of params.n values per workgroup, the sum
// of squares reduced in workgroup memory. The includer declares `params` (with n and eps), `x`,
// `weight`, `out`, `override wg_size` (a power of two) and `fn value(i) -> f32`, the row's
// element i as the sum of squares reads it (the first read of each element; thread lid reads
// lid, lid + wg_size, ...).

// Elements a thread holds in registers between the sum and the scaling, where `hold_row`
// (GPUs): rows up to ROW_CHUNKS * wg_size values (2048 at a GPU's 256 threads) are read
// once, all loads issued together. A decoded token's norm is one workgroup on one core of
// the GPU, so its time is the latency of its dependent loads: a loop that reads one element
// per trip, then reads them again to scale, waited 2 x 8 memory latencies (10 us on an H200,
// a tenth of a decode step over 47 norms). Longer rows, and CPU adapters, take the loop
// (llvmpipe ran the held row 20x slower: 2 ms a norm).
const ROW_CHUNKS: u32 = 8u;
override hold_row: bool = false;

var<workgroup> partial: array<f32, wg_size>;
var<private> base: u32; // the row's first element, set by the entry point

// Called in uniform control flow (it has barriers).
fn normalize_row(lid: u32) {
    if (!hold_row || params.n > ROW_CHUNKS * wg_size) {
        normalize_long_row(lid);
        return;
    }
    var v: array<f32, ROW_CHUNKS>;
    var acc = 0.0;
    for (var j = 0u; j < ROW_CHUNKS; j++) {
        let i = lid + j * wg_size;
        if (i < params.n) {
            v[j] = value(i);
            acc += v[j] * v[j];
        }
    }
    let scale = row_scale(lid, acc);
    for (var j = 0u; j < ROW_CHUNKS; j++) {
        let i = lid + j * wg_size;
        if (i < params.n) {
            out[base + i] = v[j] * scale * weight[i];
        }
    }
}

// The same for rows longer than the registers hold: the scaling reads x back.
fn normalize_long_row(lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < params.n; i += wg_size) {
        let v = value(i);
        acc += v * v;
    }
    let scale = row_scale(lid, acc);
    // Thread lid reads back only elements it read (and, in the adding norms, wrote) itself.
    for (var i = lid; i < params.n; i += wg_size) {
        out[base + i] = x[base + i] * scale * weight[i];
    }
}

// 1 / sqrt(mean + eps) of the row from each thread's sum of squares `acc` (the reference's
// expression; x * scale * w follows).
fn row_scale(lid: u32, acc: f32) -> f32 {
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    return 1.0 / sqrt(partial[0] / f32(params.n) + params.eps);
}
