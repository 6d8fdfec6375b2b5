// The inner loop of the matrix-vector kernels: ROWS rows of one GpuMatrix part dotted with one
// vector by one workgroup. Each thread takes whole dot units (a block, or a fixed part of one:
// `UNIT` elements, defined by the per-format helper `dot/<type>.wgsl` or `dot/generic.wgsl`)
// of all ROWS rows, so each x unit is loaded once (`x_unit`, into registers) for ROWS rows
// and each weight word once with wide loads, then the partial sums of the workgroup are added
// by `reduce_rows` (subgroup operations where the whole workgroup is one subgroup, else a tree
// in workgroup memory; the host picks the file, see `common/reduce_*.wgsl`).
// Few, fat workgroups: barriers and workgroup launches cost much on software adapters.
// The including kernel provides `x: array<vec4<f32>>` and `override wg_size`.

#include "quant/dot.wgsl"
#include "common/reduce.wgsl"
#include "common/dot_loop.wgsl"

const ROWS: u32 = 8u; // rows per workgroup: two vec4 lanes of 4
// Rows a workgroup actually dots (8, 4, 2 or 1; the host's `Tuning::matvec_rows`): fewer
// rows give each thread less serial work, for GPUs where a small matrix leaves the SMs few
// warps. The rows are the first `wg_rows` lanes of `a` then `b`, or with `paired_rows` (a
// gate row in a lane of `a`, its up row in the same lane of `b`) the first wg_rows / 2 lanes
// of each. Lanes past them stay zero.
override wg_rows: u32 = ROWS;
override paired_rows: bool = false;

// Rows `first[i] / units_per_row` of the part (first: their first dot unit, rows 0..3 in `a`,
// 4..7 in `b`) dotted with x[x0 .. x0 + cols4]. Has barriers on the shared-memory path: every
// thread of the workgroup calls it, in uniform control flow, and every thread gets the sums.
fn dot_rows(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    return reduce_rows(lid, row_partials(lid, a, b, x0, cols4));
}

// This thread's partial sums of the rows: the units strided over the threads (thread `lid`
// takes units lid, lid + wg_size, ...), so neighbouring threads read neighbouring blocks.
// `row_partials` (common/dot_loop.wgsl, chosen per format) is this loop or a variant.
fn strided_partials(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    let units = cols4 / (UNIT / 4u);
    var acc = RowSums(vec4<f32>(0.0), vec4<f32>(0.0));
    // Lanes in use of `a` and of `b` (overrides: resolved when the pipeline is made).
    let lanes_a = select(min(wg_rows, 4u), wg_rows / 2u, paired_rows);
    let lanes_b = select(max(wg_rows, 4u) - 4u, wg_rows / 2u, paired_rows);
    for (var u = lid; u < units; u += wg_size) {
        let xv = x_unit(x0 + u * (UNIT / 4u));
        acc.a += lane_dots(a, u, xv, lanes_a);
        if (lanes_b > 0u) {
            acc.b += lane_dots(b, u, xv, lanes_b);
        }
    }
    return acc;
}

// Unit `u` of the rows whose first units are `r`, dotted with `xv`: the first `lanes` (1, 2
// or 4) lanes; the others zero.
fn lane_dots(r: vec4<u32>, u: u32, xv: XUnit, lanes: u32) -> vec4<f32> {
    var d = vec4<f32>(unit_dot(r[0] + u, xv), 0.0, 0.0, 0.0);
    if (lanes > 1u) {
        d.y = unit_dot(r[1] + u, xv);
    }
    if (lanes > 2u) {
        d.z = unit_dot(r[2] + u, xv);
        d.w = unit_dot(r[3] + u, xv);
    }
    return d;
}

// Element `i < ROWS` of `s`.
fn row_sum(s: RowSums, i: u32) -> f32 {
    return select(s.a[i & 3u], s.b[i & 3u], i >= 4u);
}

// The 8 rows of `a` and `b` dotted with 4 vectors at x offsets `xt` (batch_matvec): each unit's
// weights are decoded once for the 4. Returns one RowSums per vector.
fn dot_rows4(lid: u32, a: vec4<u32>, b: vec4<u32>, xt: vec4<u32>, cols4: u32) -> array<RowSums, 4> {
    let units = cols4 / (UNIT / 4u);
    // acc_i: row i's sums, a lane per vector.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var u = lid; u < units; u += wg_size) {
        let xu = xt + vec4<u32>(u * (UNIT / 4u));
        acc0 += unit_dot4(a[0] + u, xu);
        acc1 += unit_dot4(a[1] + u, xu);
        acc2 += unit_dot4(a[2] + u, xu);
        acc3 += unit_dot4(a[3] + u, xu);
        acc4 += unit_dot4(b[0] + u, xu);
        acc5 += unit_dot4(b[1] + u, xu);
        acc6 += unit_dot4(b[2] + u, xu);
        acc7 += unit_dot4(b[3] + u, xu);
    }
    var out: array<RowSums, 4>;
    for (var t = 0u; t < 4u; t++) {
        let rows = RowSums(vec4<f32>(acc0[t], acc1[t], acc2[t], acc3[t]), vec4<f32>(acc4[t], acc5[t], acc6[t], acc7[t]));
        out[t] = reduce_rows(lid, rows);
    }
    return out;
}

fn hsum(v: vec4<f32>) -> f32 {
    return v.x + v.y + v.z + v.w;
}

// (hsum(a), hsum(b), hsum(c), hsum(d))
fn hsum4(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(hsum(a), hsum(b), hsum(c), hsum(d));
}
