use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32, wg_constants};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/matvec.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    cols4: u32,      // elements per row / 4
    part_row0: u32,  // first row of the dispatch, part-local
    n_rows: u32,     // rows in the dispatch
    y_stride: u32,   // y elements per vector
    y_col0: u32,     // y column of the dispatch's first row
    scale_base: u32, // word offset of the part's split scales
    _pad: [u32; 2],
}

/// Rows per workgroup (`ROWS` in the shader, which keeps one vec4 lane per row).
const ROWS: usize = 4;

/// `y = x W^T` over the whole matrix (decode: T is 1 or a few; prefill wants a tiled matmul).
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn matvec(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    matvec_rows(ops, w, 0, w.rows, x, y)
}

/// `y = x W[first_row .. first_row + n_rows]^T`: a slice of rows, e.g. one expert of a
/// stacked `(E * rows, C)` matrix. The weights read are only those rows.
/// - x: (T, C)
/// - y: (T, n_rows)
pub fn matvec_rows(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    if first_row + n_rows > w.rows || n_rows == 0 {
        return Err(GpuError::Shape(format!(
            "matvec: rows {first_row}..{} of a {}-row matrix",
            first_row + n_rows,
            w.rows
        )));
    }
    let t = x.len() / w.cols;
    expect_len(x, "matvec: x", t, w.cols)?;
    expect_len(y, "matvec: y", t, n_rows)?;
    let t = to_u32(t, "matvec vectors")?;
    if t == 0 || t > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("matvec: {t} vectors (use a matmul for long prefills)")));
    }
    for (part, local_row, rows, y_col) in w.spans(first_row, n_rows) {
        let params = Params {
            cols4: to_u32(w.cols / 4, "matvec")?,
            part_row0: local_row as u32,
            n_rows: rows as u32,
            y_stride: n_rows as u32,
            y_col0: y_col as u32,
            scale_base: part.scale_base,
            _pad: [0; 2],
        };
        let workgroups = ops.grid(rows.div_ceil(ROWS) as u32, t); // one workgroup per ROWS rows and vector
        ops.dispatch(Dispatch {
            spec: ShaderSpec::quant("matvec", w.ty),
            constants: &wg_constants(),
            params: bytemuck::bytes_of(&params),
            storage: &[&part.buffer, &x.buffer, &y.buffer],
            workgroups,
        })?;
    }
    Ok(())
}
