use bytemuck::{Pod, Zeroable};

use super::{row_spans, RowSpan};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` (`shaders/common/row_span_params.wgsl`) of `matmul` and `matmul_wide`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    span: RowSpan, // cols4 .. scale_base
    n_tokens: u32, // T
    _pad: u32,
}

/// Tokens and rows per workgroup tile of `matmul` and of `matmul_wide` (`TILE` in each
/// shader, fixed: the 8 x 8 workgroup and its 4 x 4 or 8 x 8 register blocks are written for
/// it).
const TILE: usize = 32;
const WIDE_TILE: usize = 64;

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
    let (t, spans) = row_spans("matmul", w, first_row, n_rows, x, y)?;
    let (kernel, tile) = if ops.ctx().tuning.matmul_wide { ("matmul_wide", WIDE_TILE) } else { ("matmul", TILE) };
    let max = ops.ctx().limits.max_compute_workgroups_per_dimension as usize;
    if t.div_ceil(tile) > max || n_rows.div_ceil(tile) > max {
        return Err(GpuError::Shape(format!("matmul: {t} tokens x {n_rows} rows do not fit one dispatch")));
    }
    for (part, span) in spans {
        let params = Params { span, n_tokens: t as u32, _pad: 0 };
        ops.dispatch(Dispatch {
            spec: ShaderSpec::quant(kernel, w.ty),
            constants: &[],
            params: bytemuck::bytes_of(&params),
            weights: Some(&part.store),
            storage: &[&x.buffer, &y.buffer],
            x_norm: None,
            workgroups: [span.n_rows.div_ceil(tile as u32), t.div_ceil(tile) as u32, 1],
        })?;
    }
    Ok(())
}
