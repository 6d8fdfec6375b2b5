//! How a GGUF matrix is laid out in GPU buffers: which formats are repacked, how a matrix is
//! split across buffers. Plain functions, testable without a GPU.
//!
//! WGSL reads storage as whole u32 words. Blocks whose size is a multiple of 4 bytes (F32,
//! F16, BF16, Q4_1, Q5_1, Q4_K, Q5_K) are uploaded as stored. The others (Q4_0 18 bytes,
//! Q5_0 22, Q8_0 34, Q6_K 210) have one f16 scale `d` that breaks alignment; at upload it is
//! moved out of each block into a scale region after all block bodies of the same buffer:
//!
//! ```text
//! [ body 0 | body 1 | ... | body n-1 ][ d0 d1 | d2 d3 | ... ]   (bodies: whole words;
//!                                                                scales: f16 pairs)
//! ```
//! The shader finds `d` of block `b` at word `scale_base + b / 2`, half `b % 2`.

use std::collections::HashMap;

use crate::quant::GgmlType;

use super::context::GpuError;

/// Where the f16 scale sits in a block that gets repacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleAt {
    /// Bytes 0..2 (Q4_0, Q5_0, Q8_0).
    Front,
    /// The last 2 bytes (Q6_K).
    Back,
}

/// The GPU layout of one weight format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuFormat {
    pub ty: GgmlType,
    /// `Some` for the repacked formats.
    pub split_scale: Option<ScaleAt>,
}

impl GpuFormat {
    /// The layout of `ty`, or [`GpuError::Unsupported`] for formats without a shader helper.
    pub fn of(ty: GgmlType) -> Result<GpuFormat, GpuError> {
        use GgmlType as T;
        let split_scale = match ty {
            T::Q4_0 | T::Q5_0 | T::Q8_0 => Some(ScaleAt::Front),
            T::Q6_K => Some(ScaleAt::Back),
            T::F32 | T::F16 | T::BF16 | T::Q4_1 | T::Q5_1 | T::Q4_K | T::Q5_K => None,
            _ => return Err(GpuError::Unsupported(ty)),
        };
        Ok(GpuFormat { ty, split_scale })
    }

    /// Elements per block in the GPU helpers (`QK` in WGSL): float types are handled in
    /// groups of 4, so their rows need `cols % 4 == 0`.
    pub fn block_elems(&self) -> usize {
        self.ty.block_size().max(4)
    }

    /// Bytes one row of `cols` elements takes (in the file and, padding aside, on the GPU).
    pub fn row_bytes(&self, cols: usize) -> u64 {
        self.ty.bytes_for(cols as u64).expect("cols checked to be whole blocks")
    }

    /// Bytes of a part holding `rows` rows: the rows' bytes rounded up to a whole word (only
    /// the split-scale region can end mid-word).
    pub fn part_bytes(&self, rows: usize, cols: usize) -> u64 {
        (rows as u64 * self.row_bytes(cols)).next_multiple_of(4)
    }

    /// Checks that rows of `cols` elements can be computed on the GPU.
    pub fn check_cols(&self, cols: usize) -> Result<(), GpuError> {
        let b = self.block_elems();
        if cols == 0 || !cols.is_multiple_of(b) {
            return Err(GpuError::Shape(format!(
                "{} rows of {cols} elements: the GPU needs a multiple of {b}",
                self.ty
            )));
        }
        Ok(())
    }
}

/// One buffer's share of a matrix: rows `first_row .. first_row + rows`, `bytes` long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartPlan {
    pub first_row: usize,
    pub rows: usize,
    pub bytes: u64,
}

/// Splits a `(rows, cols)` matrix of `ty` into parts of at most `max_bytes` each, cutting only
/// at multiples of `row_group` rows (e.g. rows per expert, so an expert never straddles two
/// buffers). Parts are as large as allowed, so a matrix under the limit is one part.
pub fn plan_parts(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_group: usize,
    max_bytes: u64,
) -> Result<Vec<PartPlan>, GpuError> {
    let fmt = GpuFormat::of(ty)?;
    fmt.check_cols(cols)?;
    if row_group == 0 || !rows.is_multiple_of(row_group) {
        return Err(GpuError::Shape(format!("{rows} rows are not whole groups of {row_group}")));
    }
    let group_bytes = fmt.part_bytes(row_group, cols);
    if group_bytes > max_bytes {
        let what = format!("{row_group} rows of {cols} {ty} elements");
        return Err(GpuError::BindingTooLarge { what, bytes: group_bytes, limit: max_bytes });
    }
    // Rows per part: the most whole groups that fit (padding is at most 2 bytes, and
    // `part_bytes` accounts for it, so check rather than divide).
    let mut groups = (max_bytes / (fmt.row_bytes(cols) * row_group as u64)).max(1) as usize;
    while groups > 1 && fmt.part_bytes(groups * row_group, cols) > max_bytes {
        groups -= 1;
    }
    let per_part = groups * row_group;
    let mut parts = Vec::new();
    let mut first_row = 0;
    while first_row < rows {
        let n = per_part.min(rows - first_row);
        parts.push(PartPlan { first_row, rows: n, bytes: fmt.part_bytes(n, cols) });
        first_row += n;
    }
    Ok(parts)
}

/// The GPU bytes of whole rows given in GGUF layout (`bytes.len()` a multiple of the row
/// size): as is, padded to a word, for aligned formats; bodies then scales for the others.
pub fn repack(fmt: GpuFormat, bytes: &[u8]) -> Vec<u8> {
    let mut out = match fmt.split_scale {
        None => bytes.to_vec(),
        Some(_) => {
            let (mut bodies, scales) = split_scales(fmt, bytes);
            bodies.extend_from_slice(&scales);
            bodies
        }
    };
    out.resize(bytes.len().next_multiple_of(4), 0);
    out
}

/// The block bodies and the f16 scales of whole blocks of a repacked format, each in block
/// order (`bytes.len()` a multiple of the block size).
fn split_scales(fmt: GpuFormat, bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ts = fmt.ty.type_size();
    let (body, scale) = match fmt.split_scale {
        Some(ScaleAt::Front) => (2..ts, 0..2),
        Some(ScaleAt::Back) => (0..ts - 2, ts - 2..ts),
        None => (0..ts, 0..0),
    };
    let blocks = bytes.len() / ts;
    let mut bodies = Vec::with_capacity(blocks * body.len());
    let mut scales = Vec::with_capacity(blocks * scale.len());
    for block in bytes.chunks_exact(ts) {
        bodies.extend_from_slice(&block[body.clone()]);
        scales.extend_from_slice(&block[scale.clone()]);
    }
    (bodies, scales)
}

/// Writes the rows of one part (a buffer of [`plan_parts`]) piecewise, in chunks of whole rows
/// in any order, so that once every row is written the buffer holds exactly [`repack`] of
/// all the part's rows. Used to upload a matrix a chunk at a time.
///
/// GPU buffer writes must be whole words at word offsets. Rows of the aligned formats and
/// block bodies of the repacked ones always are (16, 20, 32 or 208 bytes a block), but two
/// blocks share each word of the scale region: when a chunk starts or ends at an odd block,
/// its half of that word is held until the chunk with the other half is written.
pub struct PartWriter {
    fmt: GpuFormat,
    rows: usize,
    row_bytes: usize,
    blocks_per_row: usize,
    /// Scale words of which one half has come: word index -> (half: 0 low, 1 high; bytes).
    held: HashMap<usize, (usize, [u8; 2])>,
}

impl PartWriter {
    /// A writer for a part of `rows` rows of `cols` elements (`cols` checked by the plan).
    pub fn new(fmt: GpuFormat, rows: usize, cols: usize) -> PartWriter {
        let row_bytes = fmt.row_bytes(cols) as usize;
        let blocks_per_row = cols / fmt.ty.block_size();
        debug_assert!(fmt.split_scale.is_none() || (fmt.ty.type_size() - 2).is_multiple_of(4), "whole-word bodies");
        PartWriter { fmt, rows, row_bytes, blocks_per_row, held: HashMap::new() }
    }

    /// Puts `raw`, whole rows in GGUF layout starting at part row `first`, in place: calls
    /// `write(byte_offset, bytes)` with word-aligned, whole-word pieces of the part's buffer.
    ///
    /// Panics when the rows are not whole or fall outside the part (callers check).
    pub fn write_rows(&mut self, first: usize, raw: &[u8], mut write: impl FnMut(u64, &[u8])) {
        assert!(raw.len().is_multiple_of(self.row_bytes), "whole rows");
        assert!(first + raw.len() / self.row_bytes <= self.rows, "rows within the part");
        if raw.is_empty() {
            return;
        }
        if self.fmt.split_scale.is_none() {
            // Rows of aligned formats are whole words (see `GpuFormat::check_cols`).
            write((first * self.row_bytes) as u64, raw);
            return;
        }
        let body = self.fmt.ty.type_size() - 2;
        let (b0, b1) = (first * self.blocks_per_row, (first + raw.len() / self.row_bytes) * self.blocks_per_row);
        let blocks = self.rows * self.blocks_per_row;
        let scale_base = blocks * body;
        let (bodies, scales) = split_scales(self.fmt, raw);
        write((b0 * body) as u64, &bodies);

        // Scales of blocks `lo .. hi` are written whole; an odd first or last block's goes
        // through `pair`.
        let (mut lo, mut hi, mut s) = (b0, b1, &scales[..]);
        if lo % 2 == 1 {
            self.pair(scale_base, lo, [s[0], s[1]], &mut write);
            (lo, s) = (lo + 1, &s[2..]);
        }
        if lo < hi && hi % 2 == 1 {
            if hi == blocks {
                // The part's last scale: its word ends in padding (zeros, as `repack` pads).
                let mut padded = s.to_vec();
                padded.extend_from_slice(&[0, 0]);
                write((scale_base + 2 * lo) as u64, &padded);
                return;
            }
            let n = s.len();
            self.pair(scale_base, hi - 1, [s[n - 2], s[n - 1]], &mut write);
            (hi, s) = (hi - 1, &s[..n - 2]);
        }
        if lo < hi {
            write((scale_base + 2 * lo) as u64, s);
        }
    }

    /// The scale `half` of block `block`: written with its neighbour's once both have come.
    fn pair(&mut self, scale_base: usize, block: usize, half: [u8; 2], write: &mut impl FnMut(u64, &[u8])) {
        let (word, at) = (block / 2, block % 2);
        match self.held.remove(&word) {
            Some((other_at, other)) => {
                debug_assert_ne!(other_at, at, "block {block}'s scale written twice");
                let (low, high) = if at == 0 { (half, other) } else { (other, half) };
                write((scale_base + 4 * word) as u64, &[low[0], low[1], high[0], high[1]]);
            }
            None => {
                self.held.insert(word, (at, half));
            }
        }
    }

    /// Scale halves still waiting for their neighbour (none once every row is written).
    pub fn held_halves(&self) -> usize {
        self.held.len()
    }
}

/// Word offset of the scale region in a part of `blocks` repacked blocks.
pub fn scale_base_words(fmt: GpuFormat, blocks: usize) -> u32 {
    match fmt.split_scale {
        Some(_) => (blocks * (fmt.ty.type_size() - 2) / 4) as u32,
        None => 0,
    }
}
