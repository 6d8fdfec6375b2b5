// The sum of v * v over the n values a row-per-workgroup kernel's threads read through `value`
// (thread lid takes lid, lid + wg_size, ...), reduced in workgroup memory; every thread gets
// it. Called in uniform control flow (it has barriers). The includer defines `override wg_size`
// (a power of two) and `fn value(i: u32) -> f32`.

var<workgroup> partial: array<f32, wg_size>;

fn row_sum_squares(lid: u32, n: u32) -> f32 {
    var acc = 0.0;
    for (var i = lid; i < n; i += wg_size) {
        let v = value(i);
        acc += v * v;
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            partial[lid] += partial[lid + s];
        }
        workgroupBarrier();
    }
    return partial[0];
}
