// The inner loop of the matrix-vector kernels: ROWS rows of one GpuMatrix part dotted with one
// vector by one workgroup. Each thread takes whole dot units (a block, or a fixed part of one:
// `UNIT` elements, defined by the per-format helper `dot/<type>.wgsl` or `dot/generic.wgsl`)
// of all ROWS rows, so each x unit is loaded once for ROWS rows and each weight word once with
// wide loads, then the partial sums of the workgroup are added by `reduce_rows` (subgroup
// operations where the whole workgroup is one subgroup, else a tree in workgroup memory; the
// host picks the file, see `common/reduce_*.wgsl`).
// Few, fat workgroups: barriers and workgroup launches cost much on software adapters.
// The including kernel provides `x: array<vec4<f32>>` and `override wg_size`.

#include "quant/dot.wgsl"
#include "common/reduce.wgsl"

const ROWS: u32 = 8u; // rows per workgroup: two vec4 lanes of 4

// Rows `first[i] / units_per_row` of the part (first: their first dot unit, rows 0..3 in `a`,
// 4..7 in `b`) dotted with x[x0 .. x0 + cols4]. Has barriers on the shared-memory path: every
// thread of the workgroup calls it, in uniform control flow, and every thread gets the sums.
fn dot_rows(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    let units = cols4 / (UNIT / 4u);
    var acc = RowSums(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var u = lid; u < units; u += wg_size) {
        let xu = x0 + u * (UNIT / 4u);
        acc.a += vec4<f32>(unit_dot(a[0] + u, xu), unit_dot(a[1] + u, xu), unit_dot(a[2] + u, xu), unit_dot(a[3] + u, xu));
        acc.b += vec4<f32>(unit_dot(b[0] + u, xu), unit_dot(b[1] + u, xu), unit_dot(b[2] + u, xu), unit_dot(b[3] + u, xu));
    }
    return reduce_rows(lid, acc);
}

// Element `i < ROWS` of `s`.
fn row_sum(s: RowSums, i: u32) -> f32 {
    return select(s.a[i & 3u], s.b[i & 3u], i >= 4u);
}
