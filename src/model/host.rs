//! Tensors whose encoded bytes live in host memory (a memory map or a `Vec`), shared without
//! copying. The reference backend computes from these directly.

use std::ops::Deref;
use std::sync::Arc;

use crate::gguf::{Gguf, TensorInfo};
use crate::quant::{self, GgmlType};

use super::ModelError;

/// A cheap-to-clone window into bytes owned elsewhere.
#[derive(Clone)]
pub struct SharedBytes {
    owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
    end: usize,
}

impl SharedBytes {
    pub fn new(owner: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Self {
        let end = (*owner).as_ref().len();
        SharedBytes { owner, start: 0, end }
    }

    /// A sub-window; `None` when the range is outside this window.
    pub fn slice(&self, start: u64, end: u64) -> Option<SharedBytes> {
        let (s, e) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
        (s <= e && e <= self.len()).then(|| SharedBytes {
            owner: self.owner.clone(),
            start: self.start + s,
            end: self.start + e,
        })
    }
}

impl Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.start..self.end]
    }
}

/// One GGUF tensor in its stored encoding. Matrices are `rows` rows of `cols` elements;
/// a stacked expert tensor `[cols, rows_per_expert, n_experts]` is `rows_per_expert * n_experts`
/// rows, expert `e` starting at row `e * rows_per_expert`.
#[derive(Clone)]
pub struct HostTensor {
    pub name: String,
    pub ty: GgmlType,
    /// GGUF `ne` order (innermost first).
    pub dims: Vec<u64>,
    pub bytes: SharedBytes,
}

impl HostTensor {
    /// Borrows tensor `info` out of a whole-file buffer described by `gguf`.
    pub fn from_file(gguf: &Gguf, file: &SharedBytes, info: &TensorInfo) -> Result<HostTensor, ModelError> {
        if !info.ty.can_dequantize() {
            return Err(ModelError::UnsupportedType { tensor: info.name.clone(), ty: info.ty });
        }
        let r = gguf.tensor_range(info);
        let bytes = file.slice(r.start, r.end).ok_or_else(|| {
            ModelError::Gguf(crate::gguf::GgufError::TensorOutOfFile {
                tensor: info.name.clone(),
                start: r.start,
                end: r.end,
                file_len: file.len() as u64,
            })
        })?;
        Ok(HostTensor { name: info.name.clone(), ty: info.ty, dims: info.dims.clone(), bytes })
    }

    /// Elements per row.
    pub fn cols(&self) -> usize {
        self.dims[0] as usize
    }

    pub fn rows(&self) -> usize {
        self.dims[1..].iter().product::<u64>() as usize
    }

    #[allow(clippy::expect_used, reason = "the GGUF parser accepts only rows of whole blocks")]
    fn row_bytes(&self) -> usize {
        self.ty.bytes_for(self.dims[0]).expect("row length checked by the GGUF parser") as usize
    }

    /// Dequantizes row `r` into `out` (`out.len() == cols`).
    #[allow(clippy::expect_used, reason = "the type and the byte length are checked when the model loads")]
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let n = self.row_bytes();
        quant::dequantize(self.ty, &self.bytes[r * n..(r + 1) * n], out).expect("type and length checked at load");
    }

    /// The whole tensor as f32 (for vectors and small tables).
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows() * self.cols()];
        for (r, row) in out.chunks_mut(self.cols()).enumerate() {
            self.dequantize_row(r, row);
        }
        out
    }
}
