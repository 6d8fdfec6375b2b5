//! Weight matrices on the GPU in their quantized format: the model code sees one type and
//! the kernels pick the shader variant for the format (see [`super::layout`]).

use wgpu::util::DeviceExt;

use crate::model::HostTensor;
use crate::quant::GgmlType;

use super::context::{GpuContext, GpuError};
use super::layout::{self, GpuFormat};

/// One buffer of a matrix: whole rows `first_row .. first_row + rows`.
pub struct MatrixPart {
    pub buffer: wgpu::Buffer,
    pub first_row: usize,
    pub rows: usize,
    /// Word offset of the split f16 scales in `buffer` (repacked formats), else 0.
    pub scale_base: u32,
}

/// A `(rows, cols)` matrix in GGUF row order (row `r` = output `r` of `y = W x`), kept in its
/// quantized format, split across as many storage buffers as the binding limits require.
pub struct GpuMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub parts: Vec<MatrixPart>,
}

impl GpuMatrix {
    /// Uploads `bytes` (exactly `rows` GGUF rows of `cols` elements of `ty`) within the
    /// device's binding limits.
    pub fn new(
        ctx: &GpuContext,
        label: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<GpuMatrix, GpuError> {
        Self::with_limit(ctx, label, ty, rows, cols, bytes, 1, ctx.max_binding_bytes())
    }

    /// Uploads a model tensor (`row_group`: rows per expert of a stacked tensor, else 1).
    pub fn from_host(ctx: &GpuContext, t: &HostTensor, row_group: usize) -> Result<GpuMatrix, GpuError> {
        Self::new_grouped(ctx, &t.name, t.ty, t.rows(), t.cols(), &t.bytes, row_group)
    }

    /// As [`GpuMatrix::new`], for a stack of matrices of `row_group` rows each (experts):
    /// buffers are cut only between groups, so each expert lies in one buffer.
    pub fn new_grouped(
        ctx: &GpuContext,
        label: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        row_group: usize,
    ) -> Result<GpuMatrix, GpuError> {
        Self::with_limit(ctx, label, ty, rows, cols, bytes, row_group, ctx.max_binding_bytes())
    }

    /// As [`GpuMatrix::new_grouped`] with parts of at most `max_part_bytes` (at most the
    /// device limit): lets tests force a matrix across several buffers.
    #[allow(clippy::too_many_arguments)]
    pub fn with_limit(
        ctx: &GpuContext,
        label: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        row_group: usize,
        max_part_bytes: u64,
    ) -> Result<GpuMatrix, GpuError> {
        let fmt = GpuFormat::of(ty)?;
        fmt.check_cols(cols)?;
        let row_bytes = fmt.row_bytes(cols) as usize;
        if rows.checked_mul(row_bytes) != Some(bytes.len()) {
            return Err(GpuError::Shape(format!(
                "{label}: {} bytes for {rows} rows of {cols} {ty} elements",
                bytes.len()
            )));
        }
        let plan = layout::plan_parts(ty, rows, cols, row_group, max_part_bytes.min(ctx.max_binding_bytes()))?;
        let parts = plan
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let raw = &bytes[p.first_row * row_bytes..(p.first_row + p.rows) * row_bytes];
                let data = layout::repack(fmt, raw);
                debug_assert_eq!(data.len() as u64, p.bytes);
                let buffer = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&format!("{label}[{i}]")),
                    contents: &data,
                    usage: wgpu::BufferUsages::STORAGE,
                });
                let blocks = p.rows * cols / ty.block_size();
                MatrixPart {
                    buffer,
                    first_row: p.first_row,
                    rows: p.rows,
                    scale_base: layout::scale_base_words(fmt, blocks),
                }
            })
            .collect();
        Ok(GpuMatrix { ty, rows, cols, parts })
    }

    /// Bytes of weights on the GPU (what a full pass over the matrix reads).
    pub fn bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buffer.size()).sum()
    }

    /// For rows `first .. first + n`: each part touched, with the part-local first row, the
    /// number of rows, and their offset from `first`.
    pub(crate) fn spans(&self, first: usize, n: usize) -> impl Iterator<Item = (&MatrixPart, usize, usize, usize)> {
        let end = first + n;
        self.parts.iter().filter_map(move |p| {
            let lo = first.max(p.first_row);
            let hi = end.min(p.first_row + p.rows);
            (lo < hi).then(|| (p, lo - p.first_row, hi - lo, lo - first))
        })
    }
}
