// The body of the row norms (`rms_norm`, `add_rms_norm`, `moe_add_rms_norm`):
// out = x * rsqrt(mean(x^2) + eps) * w over one row of params.n values per workgroup, the sum
// of squares reduced in workgroup memory. The includer declares `params` (with n, eps and
// n_rows), `x`, `weight`, `out`,
// `override wg_size` (a power of two) and `fn value(i) -> f32`, the row's element i as the sum
// of squares reads it (the first read of each element; thread lid reads lid, lid + wg_size, ...).

// Elements per thread, ceil(n / wg_size), set by the host: a constant trip count, so a GPU's
// compiler unrolls the loops and issues a thread's loads together rather than one per trip.
override per_thread: u32 = 1u;

var<workgroup> partial: array<f32, wg_size>;
var<private> row: u32;  // the workgroup's row
var<private> base: u32; // the row's first element

// The entry point's whole work: the workgroup's row (rows folded into y past 65535
// workgroups), normalized.
fn normalize_workgroup_row(lid: u32, wid: vec3<u32>, nwg: vec3<u32>) {
    // A `let`, not `row`: WGSL's uniformity analysis counts private variables as non-uniform.
    let r = wid.x + wid.y * nwg.x;
    if (r >= params.n_rows) {
        return; // uniform: depends on the workgroup only
    }
    row = r;
    base = r * params.n;
    normalize_row(lid);
}

// Called in uniform control flow (it has barriers).
fn normalize_row(lid: u32) {
    var acc = 0.0;
    for (var j = 0u; j < per_thread; j++) {
        let i = lid + j * wg_size;
        if (i < params.n) {
            let v = value(i);
            acc += v * v;
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    // Same expression as the reference: 1 / sqrt(mean + eps), then x * scale * w. Thread lid
    // reads back only elements it read (and, in add_rms_norm, wrote) itself.
    let scale = 1.0 / sqrt(partial[0] / f32(params.n) + params.eps);
    for (var j = 0u; j < per_thread; j++) {
        let i = lid + j * wg_size;
        if (i < params.n) {
            out[base + i] = x[base + i] * scale * weight[i];
        }
    }
}
