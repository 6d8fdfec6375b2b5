//! Host functions, one per WGSL kernel (`shaders/<name>.wgsl`, entry point `<name>`), each
//! checked against the reference op of the same name (`crate::reference::ops`).
//!
//! Each one checks shapes, fills the kernel's `Params` (mirrored field for field from the
//! WGSL struct, padded to 16 bytes as uniform layout wants) and records its dispatches into
//! an [`Ops`]; nothing is submitted or read back here.

mod add;
mod attention;
mod conv_in_proj;
mod copy;
mod embed;
mod input_norm;
mod matmul;
mod matvec;
mod moe;
mod moe_batch;
mod moe_down_add;
mod moe_matmul;
mod moe_route_gate_up;
mod qk_norm_rope_store;
mod repetition_penalty;
mod rms_norm;
mod rope;
mod sample;
mod short_conv;
mod swiglu;

pub use add::add;
pub use attention::{attention, attention_scratch_len, kv_store};
pub use conv_in_proj::{conv_in_proj, fits as conv_in_proj_fits};
pub use copy::copy;
pub use embed::embed;
pub use input_norm::{input_norm_fits, InputNorm};
pub use matmul::{matmul, matmul_rows};
pub use matvec::{
    batch_matvec, batch_matvec_rows, gate_up, matvec, matvec_add, matvec_normed, matvec_rows, reads_x_uniform,
};
pub use moe::{moe_combine, moe_gate_up, moe_matvec, moe_route, moe_router, MAX_EXPERTS};
pub use moe_batch::{
    moe_batch_gate_up, moe_batch_matvec, moe_group, moe_items_rows, moe_max_items, moe_order_len, moe_sort,
};
pub use moe_down_add::{fits as moe_down_add_fits, moe_down_add};
pub use moe_matmul::{moe_matmul, moe_matmul_gate_up};
pub use moe_route_gate_up::moe_route_gate_up;
pub use qk_norm_rope_store::qk_norm_rope_store;
pub use repetition_penalty::repetition_penalty;
pub use rms_norm::{add_rms_norm, moe_add_rms_norm, rms_norm};
pub use rope::{rope_inv_freq, RopeTable};
pub use sample::{argmax, sample};
pub use short_conv::short_conv;
pub use swiglu::swiglu;

use bytemuck::{Pod, Zeroable};

use super::context::GpuError;
use super::matrix::{GpuMatrix, MatrixPart};
use super::ops::Ops;
use super::shader::ShaderSpec;
use super::tensor::GpuTensor;
use super::{KvCache, KvPrecision};

/// Workgroup size of every kernel but matmul (its 8 x 8 tiles are fixed), set through the
/// `wg_size` override: a power of two, as the tree reductions need, and within WebGPU's
/// portable 256 invocations.
pub(crate) const WG_SIZE: u32 = 64;

pub(crate) fn wg_constants() -> [(&'static str, f64); 1] {
    [("wg_size", WG_SIZE as f64)]
}

/// `len` as a u32 shader index, or a shape error naming `what`.
pub(crate) fn to_u32(len: usize, what: &str) -> Result<u32, GpuError> {
    u32::try_from(len).map_err(|_| GpuError::Shape(format!("{what}: {len} does not fit a 32-bit index")))
}

/// Fails unless `t` holds `rows * cols` elements.
pub(crate) fn expect_len(
    t: &GpuTensor,
    what: impl std::fmt::Display,
    rows: usize,
    cols: usize,
) -> Result<(), GpuError> {
    if t.len() != rows * cols {
        return Err(GpuError::Shape(format!("{what}: expected {rows} x {cols} elements, got {} x {}", t.rows, t.cols)));
    }
    Ok(())
}

/// The leading fields of `Params` in `shaders/matvec.wgsl` and `shaders/matmul.wgsl`: which
/// rows of one [`MatrixPart`] a dispatch computes, and where in `y` they go.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct RowSpan {
    pub cols4: u32,      // elements per row / 4
    pub part_row0: u32,  // first row of the dispatch, part-local
    pub n_rows: u32,     // rows in the dispatch
    pub y_stride: u32,   // y elements per token
    pub y_col0: u32,     // y column of the dispatch's first row
    pub scale_base: u32, // word offset of the part's split scales
}

/// Checks `y = x W[first_row .. first_row + n_rows]^T` for `kernel` and returns T with the
/// [`RowSpan`] of each part of `w` those rows touch (one dispatch each).
/// - x: (T, C), T > 0
/// - y: (T, n_rows)
pub(crate) fn row_spans<'w>(
    kernel: &str,
    w: &'w GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(usize, impl Iterator<Item = (&'w MatrixPart, RowSpan)>), GpuError> {
    if n_rows == 0 || first_row.checked_add(n_rows).is_none_or(|end| end > w.rows) {
        return Err(GpuError::Shape(format!(
            "{kernel}: rows {first_row}..{} of a {}-row matrix",
            first_row.saturating_add(n_rows),
            w.rows
        )));
    }
    w.check_rows_contiguous(kernel)?;
    let t = x.len() / w.cols;
    expect_len(x, format_args!("{kernel}: x"), t, w.cols)?;
    expect_len(y, format_args!("{kernel}: y"), t, n_rows)?;
    if t == 0 {
        return Err(GpuError::Shape(format!("{kernel}: no tokens")));
    }
    let (cols4, y_stride) = (to_u32(w.cols / 4, kernel)?, to_u32(n_rows, kernel)?);
    let spans = w.spans(first_row, n_rows).map(move |(part, part_row0, rows, y_col0)| {
        let span = RowSpan {
            cols4,
            part_row0: part_row0 as u32,
            n_rows: rows as u32,
            y_stride,
            y_col0: y_col0 as u32,
            scale_base: part.scale_base,
        };
        (part, span)
    });
    Ok((t, spans))
}

/// Records an elementwise kernel over `n` elements, one thread each: `kernel` names a plain
/// kernel, or is the variant to run ([`kv_spec`]).
pub(crate) fn dispatch_elementwise(
    ops: &mut Ops<'_>,
    kernel: impl Into<ShaderSpec>,
    n: usize,
    params: &[u8],
    storage: &[&wgpu::Buffer],
) -> Result<(), GpuError> {
    let spec = kernel.into();
    let groups = to_u32(n.div_ceil(WG_SIZE as usize), spec.kernel)?;
    let workgroups = ops.grid(groups, 1);
    ops.dispatch(super::ops::Dispatch {
        spec,
        constants: &wg_constants(),
        params,
        storage,
        weights: None,
        x_norm: None,
        workgroups,
    })
}

/// The variant of a KV-cache kernel (`attention`, `kv_store`, `qk_norm_rope_store`) for
/// `cache`'s precision.
pub(crate) fn kv_spec(kernel: &'static str, cache: &KvCache) -> ShaderSpec {
    ShaderSpec::plain(kernel).with_kv_f32(cache.precision == KvPrecision::F32)
}
