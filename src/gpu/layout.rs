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
    let ts = fmt.ty.type_size();
    let mut out = Vec::with_capacity(bytes.len().next_multiple_of(4));
    match fmt.split_scale {
        None => out.extend_from_slice(bytes),
        Some(at) => {
            let body = match at {
                ScaleAt::Front => 2..ts,
                ScaleAt::Back => 0..ts - 2,
            };
            let scale = match at {
                ScaleAt::Front => 0..2,
                ScaleAt::Back => ts - 2..ts,
            };
            for block in bytes.chunks_exact(ts) {
                out.extend_from_slice(&block[body.clone()]);
            }
            for block in bytes.chunks_exact(ts) {
                out.extend_from_slice(&block[scale.clone()]);
            }
        }
    }
    out.resize(bytes.len().next_multiple_of(4), 0);
    out
}

/// Word offset of the scale region in a part of `blocks` repacked blocks.
pub fn scale_base_words(fmt: GpuFormat, blocks: usize) -> u32 {
    match fmt.split_scale {
        Some(_) => (blocks * (fmt.ty.type_size() - 2) / 4) as u32,
        None => 0,
    }
}
