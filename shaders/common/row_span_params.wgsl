// `Params` of the dense matrix kernels (`matvec`, `batch_matvec`, `matmul`, `matmul_wide`):
// a span of rows of one GpuMatrix part and the vectors it meets, mirrored by `Params`
// (a `RowSpan`, then the vectors) in src/gpu/kernels/matvec.rs and matmul.rs.

struct Params {
    cols4: u32,      // elements per row / 4 (rows are whole blocks, so this is exact)
    part_row0: u32,  // first row of this dispatch, counted from the start of the part
    n_rows: u32,     // rows in this dispatch
    y_stride: u32,   // y elements per vector (row length of y)
    y_col0: u32,     // y column of the dispatch's first row
    scale_base: u32, // word offset of the part's split f16 scales (repacked types)
    n_tokens: u32,   // T: vectors (the workgroups' z in the matrix-vector kernels)
    _pad0: u32,
}
