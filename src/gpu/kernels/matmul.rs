use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    cols4: u32,      // elements per row / 4
    part_row0: u32,  // first row of the dispatch, part-local
    n_rows: u32,     // rows in the dispatch
    y_stride: u32,   // y elements per token
    y_col0: u32,     // y column of the dispatch's first row
    scale_base: u32, // word offset of the part's split scales
    n_tokens: u32,   // T
    _pad: u32,
}

/// Tokens and rows per workgroup tile (`TILE` in the shader, fixed: the 8 x 8 workgroup and
/// its 4 x 4 register blocks are written for it).
const TILE: usize = 32;

/// `y = x W^T` for a prefill of T tokens, tiled so each weight is decoded once per 32 tokens.
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn matmul(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    matmul_rows(ops, w, 0, w.rows, x, y)
}

/// [`matmul`] over rows `first_row .. first_row + n_rows` of `w` (e.g. one expert).
/// - x: (T, C)
/// - y: (T, n_rows)
pub fn matmul_rows(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    if first_row + n_rows > w.rows || n_rows == 0 {
        return Err(GpuError::Shape(format!(
            "matmul: rows {first_row}..{} of a {}-row matrix",
            first_row + n_rows,
            w.rows
        )));
    }
    let t = x.len() / w.cols;
    expect_len(x, "matmul: x", t, w.cols)?;
    expect_len(y, "matmul: y", t, n_rows)?;
    let max = ops.ctx().limits.max_compute_workgroups_per_dimension as usize;
    if t == 0 || t.div_ceil(TILE) > max || n_rows.div_ceil(TILE) > max {
        return Err(GpuError::Shape(format!("matmul: {t} tokens x {n_rows} rows do not fit one dispatch")));
    }
    for (part, local_row, rows, y_col) in w.spans(first_row, n_rows) {
        let params = Params {
            cols4: to_u32(w.cols / 4, "matmul")?,
            part_row0: local_row as u32,
            n_rows: rows as u32,
            y_stride: n_rows as u32,
            y_col0: y_col as u32,
            scale_base: part.scale_base,
            n_tokens: t as u32,
            _pad: 0,
        };
        ops.dispatch(Dispatch {
            spec: ShaderSpec::quant("matmul", w.ty),
            constants: &[],
            params: bytemuck::bytes_of(&params),
            storage: &[&part.buffer, &x.buffer, &y.buffer],
            workgroups: [rows.div_ceil(TILE) as u32, t.div_ceil(TILE) as u32, 1],
        })?;
    }
    Ok(())
}
