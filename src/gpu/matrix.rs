//! Weight matrices on the GPU in their quantized format: the model code sees one type and
//! the kernels pick the shader variant for the format (see [`super::layout`]).

use std::ops::Range;

use crate::model::HostTensor;
use crate::quant::GgmlType;

use super::context::{GpuContext, GpuError};
use super::layout::{self, GpuFormat, PartWriter};

/// Bytes of GGUF rows repacked and written at a time: bounds the host memory an upload takes
/// beyond the caller's bytes, whatever the size of the matrix.
const WRITE_CHUNK: usize = 1 << 20;

/// Bytes written between two flushes of the queue. Natively, each `write_buffer` copies its
/// data into a staging buffer that lives until the submission after it completes: flushing
/// keeps that memory bounded (without it, the whole model would be staged). On lavapipe,
/// loading a 297 MiB model peaks at about 750 MB of RSS flushing every 4 MiB, 870 MB every
/// 64 MiB (freed staging memory is not all reused); an empty submission costs little.
pub(crate) const FLUSH_BYTES: u64 = 4 << 20;

/// One buffer (or texture) of a matrix: whole rows `first_row .. first_row + rows`.
pub struct MatrixPart {
    pub store: WeightStore,
    /// Bytes of the part's layout: its buffer's size (a texture's last row is padded).
    pub bytes: u64,
    pub first_row: usize,
    pub rows: usize,
    /// Word offset of the split f16 scales in the part (repacked formats), else 0.
    pub scale_base: u32,
}

/// Where a part's bytes are on the GPU: the kernels bind either as binding 1 (shaders'
/// `common/weights.wgsl`); `Ops::dispatch` picks the shader variant that reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WeightStore {
    /// A storage buffer, as uploaded.
    Buffer(wgpu::Buffer),
    /// An rgba32uint texture holding the same bytes, [`W_TEXELS`] 16-byte texels a row
    /// ([`GpuMatrix::to_textures`]).
    Texture(wgpu::TextureView),
}

/// 16-byte texels in a row of a weight texture (`W_TEXELS_LOG2` in
/// shaders/common/weights_texture.wgsl): 64 KiB a row, so a 128 MiB part is 2048 rows.
pub const W_TEXELS: u32 = 4096;

impl MatrixPart {
    /// The part's buffer, unless it was moved into a texture.
    pub fn buffer(&self) -> Option<&wgpu::Buffer> {
        match &self.store {
            WeightStore::Buffer(b) => Some(b),
            WeightStore::Texture(_) => None,
        }
    }

    /// Whether the kernels read this part through the texture variant of their shader.
    pub fn is_texture(&self) -> bool {
        matches!(self.store, WeightStore::Texture(_))
    }
}

/// A `(rows, cols)` matrix in GGUF row order (row `r` = output `r` of `y = W x`), kept in its
/// quantized format, split across as many storage buffers as the binding limits require (on
/// CPU adapters then moved into textures: [`GpuMatrix::to_textures`]).
pub struct GpuMatrix {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// `first_row` and `rows` of each part count this matrix's rows; with `interleave`, the
    /// buffers hold its partner's rows too.
    pub parts: Vec<MatrixPart>,
    /// `Some` for a stacked expert matrix sharing its buffers with a partner
    /// ([`super::pairing::interleave_experts`]).
    pub interleave: Option<Interleave>,
}

/// How a stacked expert matrix of `rows_per_expert` rows an expert lies in buffers it shares
/// with a partner of the same shape: part-local expert j's rows start at buffer row
/// `j * 2 * rows_per_expert + offset` (offset 0: the first of the pair, e.g. gate; else
/// `rows_per_expert`: the second, up). Only the expert kernels read such a matrix, except
/// where it is one expert (a dense MLP's gate and up, one above the other), whose rows the
/// row-wise kernels read too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interleave {
    pub rows_per_expert: usize,
    pub offset: usize,
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
        Self::with_limit(ctx, label, ty, rows, cols, bytes, 1, ctx.max_weight_part_bytes())
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
        Self::with_limit(ctx, label, ty, rows, cols, bytes, row_group, ctx.max_weight_part_bytes())
    }

    /// As [`GpuMatrix::new_grouped`] with parts of at most `max_part_bytes` (at most
    /// [`GpuContext::max_weight_part_bytes`]): lets tests force a matrix across several buffers.
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
        if rows.checked_mul(fmt.row_bytes(cols) as usize) != Some(bytes.len()) {
            return Err(GpuError::Shape(format!(
                "{label}: {} bytes for {rows} rows of {cols} {ty} elements",
                bytes.len()
            )));
        }
        let mut upload = Self::allocate(ctx, label, ty, rows, cols, row_group, max_part_bytes)?;
        upload.write_rows(ctx, 0, bytes)?;
        upload.finish()
    }

    /// Allocates the buffers of a `(rows, cols)` matrix of `ty` (split as
    /// [`GpuMatrix::with_limit`] splits it, `max_part_bytes` capped as there) and
    /// returns it empty, to be filled a chunk of rows at a time with
    /// [`MatrixUpload::write_rows`]: a large tensor never needs to be in memory whole.
    #[allow(clippy::too_many_arguments)]
    pub fn allocate(
        ctx: &GpuContext,
        label: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        row_group: usize,
        max_part_bytes: u64,
    ) -> Result<MatrixUpload, GpuError> {
        let fmt = GpuFormat::of(ty)?;
        let plan = layout::plan_parts(ty, rows, cols, row_group, max_part_bytes.min(ctx.max_weight_part_bytes()))?;
        let parts: Vec<MatrixPart> = plan
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("{label}[{i}]")),
                    size: p.bytes,
                    // Written by the queue; COPY_SRC lets tests read the bytes back and
                    // `to_textures` copy them.
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let blocks = p.rows * cols / ty.block_size();
                MatrixPart {
                    store: WeightStore::Buffer(buffer),
                    bytes: p.bytes,
                    first_row: p.first_row,
                    rows: p.rows,
                    scale_base: layout::scale_base_words(fmt, blocks),
                }
            })
            .collect();
        Ok(MatrixUpload {
            buffers: parts.iter().filter_map(|p| p.buffer().cloned()).collect(),
            label: label.to_string(),
            row_bytes: fmt.row_bytes(cols) as usize,
            writers: plan.iter().map(|p| PartWriter::new(fmt, p.rows, cols)).collect(),
            matrix: GpuMatrix { ty, rows, cols, parts, interleave: None },
            written: WrittenRows::default(),
            unflushed: 0,
        })
    }

    /// Bytes of weights on the GPU (what a full pass over the matrix reads): of an
    /// interleaved matrix, its half of the shared buffers.
    pub fn bytes(&self) -> u64 {
        let all: u64 = self.parts.iter().map(|p| p.bytes).sum();
        if self.interleave.is_some() {
            all / 2
        } else {
            all
        }
    }

    /// An error for kernels that read rows as laid out one after another (all but the
    /// expert kernels) when the matrix is interleaved with a partner.
    pub(crate) fn check_not_interleaved(&self, kernel: &str) -> Result<(), GpuError> {
        match self.interleave {
            None => Ok(()),
            Some(_) => Err(GpuError::Shape(format!("{kernel}: an expert matrix interleaved with its partner"))),
        }
    }

    /// An error for the row-wise kernels (`matvec`, `matmul`, ...) unless the rows lie one
    /// after another in each buffer: not interleaved, or one half of a single-expert pair (a
    /// dense MLP's gate and up, one above the other: [`GpuMatrix::row_offset`]).
    pub(crate) fn check_rows_contiguous(&self, kernel: &str) -> Result<(), GpuError> {
        match self.interleave {
            Some(i) if i.rows_per_expert != self.rows => self.check_not_interleaved(kernel),
            _ => Ok(()),
        }
    }

    /// The buffer row of this matrix's first row in each part: 0, or for the second half of
    /// a single-expert pair its partner's rows.
    pub(crate) fn row_offset(&self) -> usize {
        match self.interleave {
            Some(i) if i.rows_per_expert == self.rows => i.offset,
            _ => 0,
        }
    }

    /// Whether `self` (first) and `other` (second) are the two halves of one interleaved
    /// pair: the fused gate and up kernels then read both from the same buffers.
    pub fn pairs_with(&self, other: &GpuMatrix) -> bool {
        match (self.interleave, other.interleave) {
            (Some(a), Some(b)) => {
                a.offset == 0
                    && b.offset == a.rows_per_expert
                    && a.rows_per_expert == b.rows_per_expert
                    && self.parts.len() == other.parts.len()
                    && self
                        .parts
                        .iter()
                        .zip(&other.parts)
                        .all(|(p, q)| p.store == q.store && p.first_row == q.first_row)
            }
            _ => false,
        }
    }

    /// For rows `first .. first + n` (of a matrix whose rows are contiguous:
    /// [`GpuMatrix::check_rows_contiguous`]): each part touched, with the buffer row of the
    /// first, the number of rows, and their offset from `first`.
    pub(crate) fn spans(&self, first: usize, n: usize) -> impl Iterator<Item = (&MatrixPart, usize, usize, usize)> {
        let (end, offset) = (first + n, self.row_offset());
        self.parts.iter().filter_map(move |p| {
            let lo = first.max(p.first_row);
            let hi = end.min(p.first_row + p.rows);
            (lo < hi).then(|| (p, lo - p.first_row + offset, hi - lo, lo - first))
        })
    }
}

/// A matrix whose buffers are allocated ([`GpuMatrix::allocate`]) and whose rows are being
/// written; [`MatrixUpload::finish`] checks every row was and hands the matrix over.
pub struct MatrixUpload {
    label: String,
    matrix: GpuMatrix,
    /// The parts' buffers, written in place.
    buffers: Vec<wgpu::Buffer>,
    /// Bytes of one row in GGUF layout.
    row_bytes: usize,
    /// One per part.
    writers: Vec<PartWriter>,
    written: WrittenRows,
    /// Bytes written since the queue was last flushed.
    unflushed: u64,
}

impl MatrixUpload {
    pub fn rows(&self) -> usize {
        self.matrix.rows
    }

    /// Bytes of one row in GGUF layout (what [`MatrixUpload::write_rows`] takes per row).
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Writes `raw`, whole rows in GGUF layout, as rows `first_row ..` of the matrix. Rows may
    /// come in chunks of any size and in any order (a chunk may straddle buffers), each row
    /// once. Host memory taken is bounded by [`WRITE_CHUNK`] whatever `raw`'s size; the writes
    /// are queued (ordered before later submissions).
    pub fn write_rows(&mut self, ctx: &GpuContext, first_row: usize, raw: &[u8]) -> Result<(), GpuError> {
        let n = raw.len() / self.row_bytes;
        let rows = first_row..first_row.saturating_add(n);
        if !raw.len().is_multiple_of(self.row_bytes) || rows.end > self.matrix.rows {
            return Err(GpuError::Shape(format!(
                "{}: {} bytes at row {first_row} are not whole rows of a {}-row matrix ({} bytes a row)",
                self.label,
                raw.len(),
                self.matrix.rows,
                self.row_bytes
            )));
        }
        if n == 0 {
            return Ok(());
        }
        self.written.mark(&self.label, rows.clone())?;
        let chunk_rows = (WRITE_CHUNK / self.row_bytes).max(1);
        for (i, (part, buffer)) in self.matrix.parts.iter().zip(&self.buffers).enumerate() {
            let lo = rows.start.max(part.first_row);
            let hi = rows.end.min(part.first_row + part.rows);
            let mut r = lo;
            while r < hi {
                let end = hi.min(r + chunk_rows);
                let bytes = &raw[(r - rows.start) * self.row_bytes..(end - rows.start) * self.row_bytes];
                self.writers[i]
                    .write_rows(r - part.first_row, bytes, |offset, data| ctx.queue.write_buffer(buffer, offset, data));
                self.unflushed += bytes.len() as u64;
                if self.unflushed >= FLUSH_BYTES {
                    ctx.queue.submit([]);
                    self.unflushed = 0;
                }
                r = end;
            }
        }
        Ok(())
    }

    /// The matrix, once every row is written.
    pub fn finish(self) -> Result<GpuMatrix, GpuError> {
        self.written.check_all(&self.label, self.matrix.rows)?;
        debug_assert!(self.writers.iter().all(|w| w.held_halves() == 0));
        Ok(self.matrix)
    }
}

/// The rows of a tensor written so far, to check each is written once and none is missed.
#[derive(Default)]
pub(crate) struct WrittenRows {
    /// Sorted, disjoint and not touching.
    ranges: Vec<Range<usize>>,
}

impl WrittenRows {
    /// Records `rows` of `label` as written; an error when some already were.
    pub(crate) fn mark(&mut self, label: &str, rows: Range<usize>) -> Result<(), GpuError> {
        // Ranges `at .. until` overlap or touch `rows`: they merge with it.
        let at = self.ranges.partition_point(|w| w.end < rows.start);
        let until = at + self.ranges[at..].iter().take_while(|w| w.start <= rows.end).count();
        if let Some(w) = self.ranges[at..until].iter().find(|w| w.start < rows.end && rows.start < w.end) {
            return Err(GpuError::Shape(format!(
                "{label}: rows {}..{} written twice (rows {}..{} were already)",
                rows.start, rows.end, w.start, w.end
            )));
        }
        let merged = self.ranges[at..until].iter().fold(rows, |m, w| m.start.min(w.start)..m.end.max(w.end));
        self.ranges.splice(at..until, [merged]);
        Ok(())
    }

    /// An error naming the first rows of `0 .. rows` not written, if any.
    pub(crate) fn check_all(&self, label: &str, rows: usize) -> Result<(), GpuError> {
        let missing = match self.ranges.first() {
            Some(w) if w.start == 0 && w.end == rows => return Ok(()),
            None if rows == 0 => return Ok(()),
            Some(w) if w.start == 0 => w.end..self.ranges.get(1).map_or(rows, |n| n.start),
            Some(w) => 0..w.start,
            None => 0..rows,
        };
        Err(GpuError::Shape(format!("{label}: rows {}..{} of {rows} were not written", missing.start, missing.end)))
    }
}
