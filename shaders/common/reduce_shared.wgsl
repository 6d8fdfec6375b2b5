// The workgroup sum of ROWS per-thread partial sums through workgroup memory: a tree of
// log2(wg_size) barriers (the host includes this file when subgroups are missing or smaller
// than the workgroup). Every thread calls it in uniform control flow; every thread gets the sums.

struct RowSums {
    a: vec4<f32>, // rows 0..3
    b: vec4<f32>, // rows 4..7
}

var<workgroup> row_partial: array<RowSums, wg_size>;

fn reduce_rows(lid: u32, acc: RowSums) -> RowSums {
    row_partial[lid] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            row_partial[lid].a += row_partial[lid + s].a;
            row_partial[lid].b += row_partial[lid + s].b;
        }
        workgroupBarrier();
    }
    let sums = row_partial[0];
    // Every thread holds its copy before a next call (batch_matvec makes 4) writes again.
    workgroupBarrier();
    return sums;
}
