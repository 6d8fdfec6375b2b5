// y = W x for a few vectors (decode). A workgroup computes ROWS consecutive rows for one
// vector: each thread sums a strided share of the 4-element units of all ROWS rows (so each
// x unit is loaded once for ROWS rows), then one tree reduction in workgroup memory serves
// all ROWS rows (fewer workgroups and barriers: both cost much on software adapters).
// The host prepends one quant helper (shaders/quant/<type>.wgsl, pipeline `matvec_<type>`),
// which defines QK and dequant4 over `w`; so one kernel serves every type.
// A dispatch covers rows part_row0 .. part_row0 + n_rows of ONE GpuMatrix part (a matrix may
// span several buffers) and writes them to y columns y_col0 ..; the host issues one dispatch
// per part touched, which is also how an expert slice of a stacked matrix is selected.

struct Params {
    cols4: u32,      // elements per row / 4 (rows are whole blocks, so this is exact)
    part_row0: u32,  // first row of this dispatch, counted from the start of the part
    n_rows: u32,     // rows in this dispatch
    y_stride: u32,   // y elements per vector (row length of y)
    y_col0: u32,     // y column of the dispatch's first row
    scale_base: u32, // word offset of the part's split f16 scales (repacked types)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;       // one part: (part_rows, cols) in GpuMatrix layout
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, y_stride)

const ROWS: u32 = 4u;        // rows per workgroup (host: ROWS in matvec.rs): one vec4 lane each
override wg_size: u32 = 64u; // a power of two, at most 256 (WebGPU's portable limit)

var<workgroup> partial: array<vec4<f32>, wg_size>; // one lane per row

@compute @workgroup_size(wg_size)
fn matvec(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    // Row groups are folded into x and y: one dimension holds at most 65535 workgroups.
    let r0 = (wid.x + wid.y * nwg.x) * ROWS;
    let t = wid.z;
    if (r0 >= params.n_rows) {
        return; // uniform: depends on the workgroup only
    }
    let units_per_block = QK / 4u;
    let blocks_per_row = params.cols4 / units_per_block;
    // Rows past the end repeat the last row (in bounds) and are not stored.
    var blk0: array<u32, ROWS>;
    for (var k = 0u; k < ROWS; k++) {
        blk0[k] = (params.part_row0 + min(r0 + k, params.n_rows - 1u)) * blocks_per_row;
    }
    let x0 = t * params.cols4;
    var acc = vec4<f32>(0.0);
    for (var u = lid.x; u < params.cols4; u += wg_size) {
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
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = wg_size / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x < ROWS && r0 + lid.x < params.n_rows) {
        y[t * params.y_stride + params.y_col0 + r0 + lid.x] = partial[0][lid.x];
    }
}
