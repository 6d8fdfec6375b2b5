// The inner loop of the matrix-vector kernels: ROWS rows of one GpuMatrix part dotted with one
// vector by one workgroup. Each thread sums a strided share of the 4-element units of all ROWS
// rows (so each x unit is loaded once for ROWS rows), then one tree reduction in workgroup
// memory serves all ROWS rows (fewer workgroups and barriers: both cost much on software
// adapters).
// The including kernel provides the quant helper (QK and dequant4 over `w`, one part),
// `x: array<vec4<f32>>` and `override wg_size` (a power of two, at most 256).

const ROWS: u32 = 4u; // rows per workgroup: one vec4 lane each

var<workgroup> dot_partial: array<vec4<f32>, wg_size>; // one lane per row

// Lane k: row `blk0[k] / blocks_per_row` of the part (blk0: its first block) dotted with
// x[x0 .. x0 + cols4]. Has barriers: every thread of the workgroup calls it, in uniform control
// flow, and every thread gets the sums.
fn dot_rows(lid: u32, blk0: vec4<u32>, x0: u32, cols4: u32) -> vec4<f32> {
    let units_per_block = QK / 4u;
    var acc = vec4<f32>(0.0);
    for (var u = lid; u < cols4; u += wg_size) {
        let xv = x[x0 + u];
        let b = u / units_per_block;
        let j = u % units_per_block;
        acc += vec4<f32>(
            dot(dequant4(blk0[0] + b, j), xv),
            dot(dequant4(blk0[1] + b, j), xv),
            dot(dequant4(blk0[2] + b, j), xv),
            dot(dequant4(blk0[3] + b, j), xv),
        );
    }
    dot_partial[lid] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            dot_partial[lid] += dot_partial[lid + s];
        }
        workgroupBarrier();
    }
    return dot_partial[0];
}
