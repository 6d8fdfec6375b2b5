use bytemuck::{Pod, Zeroable};

use super::{row_spans, to_u32, RowSpan};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/matvec.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    span: RowSpan, // cols4 .. scale_base
    _pad: [u32; 2],
}

/// Rows per workgroup (`ROWS` in common/dot_rows.wgsl: two vec4 accumulators).
pub(crate) const ROWS: u32 = 8;

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
    let (t, spans) = row_spans("matvec", w, first_row, n_rows, x, y)?;
    let t = to_u32(t, "matvec vectors")?;
    if t > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("matvec: {t} vectors (use a matmul for long prefills)")));
    }
    for (part, span) in spans {
        let params = Params { span, _pad: [0; 2] };
        let workgroups = ops.grid(span.n_rows.div_ceil(ROWS), t); // one workgroup per ROWS rows and vector
        let spec = ShaderSpec::quant("matvec", w.ty);
        ops.dispatch(Dispatch {
            spec,
            constants: &matvec_constants(ops),
            params: bytemuck::bytes_of(&params),
            storage: &[&part.buffer, &x.buffer, &y.buffer],
            wide: spec.wide_weights().then_some(&part.buffer),
            workgroups,
        })?;
    }
    Ok(())
}

/// The `wg_size` override of the matrix-vector kernels: the adapter's [`crate::gpu::Tuning`].
pub(crate) fn matvec_constants(ops: &Ops<'_>) -> [(&'static str, f64); 1] {
    [("wg_size", ops.ctx().tuning.matvec_wg as f64)]
}

/// Mirrors `Params` in `shaders/batch_matvec.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BatchParams {
    span: RowSpan, // cols4 .. scale_base
    n_tokens: u32, // T
    _pad: u32,
}

/// `y = x W^T` for a batch of vectors, 4 per matrix-vector workgroup (prefill on adapters
/// where [`crate::gpu::Tuning::batch_matvec`] says it beats the tiled matmul).
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn batch_matvec(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    batch_matvec_rows(ops, w, 0, w.rows, x, y)
}

/// [`batch_matvec`] over rows `first_row .. first_row + n_rows` of `w`.
/// - x: (T, C)
/// - y: (T, n_rows)
pub fn batch_matvec_rows(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, spans) = row_spans("batch_matvec", w, first_row, n_rows, x, y)?;
    let groups = to_u32(t.div_ceil(4), "batch_matvec vectors")?;
    if groups > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("batch_matvec: {t} vectors in one dispatch")));
    }
    for (part, span) in spans {
        let params = BatchParams { span, n_tokens: t as u32, _pad: 0 };
        let spec = ShaderSpec::quant("batch_matvec", w.ty);
        ops.dispatch(Dispatch {
            spec,
            constants: &matvec_constants(ops),
            params: bytemuck::bytes_of(&params),
            storage: &[&part.buffer, &x.buffer, &y.buffer],
            wide: spec.wide_weights().then_some(&part.buffer),
            workgroups: ops.grid(span.n_rows.div_ceil(ROWS), groups), // ROWS rows x 4 vectors each
        })?;
    }
    Ok(())
}
