//! ggml tensor types: block layouts, sizes, and plain-Rust dequantization.
//!
//! Every layout here is llama.cpp's (`ggml-common.h`). A tensor row of `n` elements is
//! `n / block_size` consecutive blocks of `type_size` bytes; rows are packed back to back.
//! The functions in the submodules are the reference every GPU kernel is checked against.

use std::fmt;

mod float;
mod kquants;
mod kquants_low;
mod legacy;

/// A ggml tensor element type, as stored in GGUF tensor infos (`ggml_type` ids).
///
/// All types llama.cpp can write are known here so that any GGUF file can be *parsed*
/// (tensor byte ranges need the block size); [`GgmlType::can_dequantize`] says which ones
/// this runtime can compute with.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (type, ggml id, elements per block, bytes per block, name)
const TABLE: &[(GgmlType, u32, usize, usize, &str)] = &[
    (GgmlType::F32, 0, 1, 4, "F32"),
    (GgmlType::F16, 1, 1, 2, "F16"),
    (GgmlType::Q4_0, 2, 32, 18, "Q4_0"),
    (GgmlType::Q4_1, 3, 32, 20, "Q4_1"),
    (GgmlType::Q5_0, 6, 32, 22, "Q5_0"),
    (GgmlType::Q5_1, 7, 32, 24, "Q5_1"),
    (GgmlType::Q8_0, 8, 32, 34, "Q8_0"),
    (GgmlType::Q8_1, 9, 32, 36, "Q8_1"),
    (GgmlType::Q2_K, 10, 256, 84, "Q2_K"),
    (GgmlType::Q3_K, 11, 256, 110, "Q3_K"),
    (GgmlType::Q4_K, 12, 256, 144, "Q4_K"),
    (GgmlType::Q5_K, 13, 256, 176, "Q5_K"),
    (GgmlType::Q6_K, 14, 256, 210, "Q6_K"),
    (GgmlType::Q8_K, 15, 256, 292, "Q8_K"),
    (GgmlType::IQ2_XXS, 16, 256, 66, "IQ2_XXS"),
    (GgmlType::IQ2_XS, 17, 256, 74, "IQ2_XS"),
    (GgmlType::IQ3_XXS, 18, 256, 98, "IQ3_XXS"),
    (GgmlType::IQ1_S, 19, 256, 50, "IQ1_S"),
    (GgmlType::IQ4_NL, 20, 32, 18, "IQ4_NL"),
    (GgmlType::IQ3_S, 21, 256, 110, "IQ3_S"),
    (GgmlType::IQ2_S, 22, 256, 82, "IQ2_S"),
    (GgmlType::IQ4_XS, 23, 256, 136, "IQ4_XS"),
    (GgmlType::I8, 24, 1, 1, "I8"),
    (GgmlType::I16, 25, 1, 2, "I16"),
    (GgmlType::I32, 26, 1, 4, "I32"),
    (GgmlType::I64, 27, 1, 8, "I64"),
    (GgmlType::F64, 28, 1, 8, "F64"),
    (GgmlType::IQ1_M, 29, 256, 56, "IQ1_M"),
    (GgmlType::BF16, 30, 1, 2, "BF16"),
    (GgmlType::TQ1_0, 34, 256, 54, "TQ1_0"),
    (GgmlType::TQ2_0, 35, 256, 66, "TQ2_0"),
    (GgmlType::MXFP4, 39, 32, 17, "MXFP4"),
];

impl GgmlType {
    fn row(self) -> &'static (GgmlType, u32, usize, usize, &'static str) {
        TABLE.iter().find(|r| r.0 == self).expect("every GgmlType is in TABLE")
    }

    /// The type with ggml id `id`, or `None` for an id ggml does not define.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().find(|r| r.1 == id).map(|r| r.0)
    }

    /// The ggml id written in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self.row().1
    }

    /// Elements per block (1 for plain float and int types).
    pub fn block_size(self) -> usize {
        self.row().2
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.row().3
    }

    /// llama.cpp's name for the type (`Q4_K`, `BF16`, ...).
    pub fn name(self) -> &'static str {
        self.row().4
    }

    /// Bytes taken by `n` elements, or `None` when `n` is not a whole number of blocks.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        n.is_multiple_of(bs).then(|| n / bs * self.type_size() as u64)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl GgmlType {
    /// Whether [`dequantize`] and [`quantize`] support this type.
    pub fn can_dequantize(self) -> bool {
        kernels(self).is_some()
    }
}

/// Why a (de)quantization request was refused. Nothing here panics on bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("{0} tensors cannot be dequantized or quantized by this runtime")]
    Unsupported(GgmlType),
    #[error("{n} elements is not a whole number of {ty} blocks ({block_size} elements each)")]
    NotWholeBlocks { ty: GgmlType, n: usize, block_size: usize },
    #[error("{n} {ty} elements take {expected} bytes, but {actual} bytes were given")]
    ByteLength { ty: GgmlType, n: usize, expected: u64, actual: usize },
    #[error("{n} {ty} elements are more bytes than this machine can address")]
    TooLarge { ty: GgmlType, n: usize },
}

type Dequantize = fn(&[u8], &mut [f32]);
type Quantize = fn(&[f32], &mut [u8]);

/// The row (de)quantizers of a supported type. Both take whole blocks and lengths that
/// already agree, so they can index without checks failing.
fn kernels(ty: GgmlType) -> Option<(Dequantize, Quantize)> {
    use GgmlType as T;
    let k: (Dequantize, Quantize) = match ty {
        T::F32 => (float::dequantize_f32, float::quantize_f32),
        T::F16 => (float::dequantize_f16, float::quantize_f16),
        T::BF16 => (float::dequantize_bf16, float::quantize_bf16),
        T::Q4_0 => (legacy::dequantize_q4_0, legacy::quantize_q4_0),
        T::Q4_1 => (legacy::dequantize_q4_1, legacy::quantize_q4_1),
        T::Q5_0 => (legacy::dequantize_q5_0, legacy::quantize_q5_0),
        T::Q5_1 => (legacy::dequantize_q5_1, legacy::quantize_q5_1),
        T::Q8_0 => (legacy::dequantize_q8_0, legacy::quantize_q8_0),
        T::Q2_K => (kquants_low::dequantize_q2_k, kquants_low::quantize_q2_k),
        T::Q3_K => (kquants_low::dequantize_q3_k, kquants_low::quantize_q3_k),
        T::Q4_K => (kquants::dequantize_q4_k, kquants::quantize_q4_k),
        T::Q5_K => (kquants::dequantize_q5_k, kquants::quantize_q5_k),
        T::Q6_K => (kquants::dequantize_q6_k, kquants::quantize_q6_k),
        T::Q8_K => (kquants_low::dequantize_q8_k, kquants_low::quantize_q8_k),
        _ => return None,
    };
    Some(k)
}

/// Checks that `ty` is supported and `n` elements are whole blocks; returns the byte count.
fn checked_size(ty: GgmlType, n: usize) -> Result<(usize, (Dequantize, Quantize)), QuantError> {
    let k = kernels(ty).ok_or(QuantError::Unsupported(ty))?;
    let block_size = ty.block_size();
    if !n.is_multiple_of(block_size) {
        return Err(QuantError::NotWholeBlocks { ty, n, block_size });
    }
    let bytes = (n / block_size).checked_mul(ty.type_size()).ok_or(QuantError::TooLarge { ty, n })?;
    Ok((bytes, k))
}

/// The dequantizer for `n` elements of `ty` in `len` bytes, once those sizes agree.
fn dequantizer(ty: GgmlType, n: usize, len: usize) -> Result<Dequantize, QuantError> {
    let (expected, (dequantize, _)) = checked_size(ty, n)?;
    if len != expected {
        return Err(QuantError::ByteLength { ty, n, expected: expected as u64, actual: len });
    }
    Ok(dequantize)
}

/// Dequantizes `out.len()` elements of type `ty` from `bytes`, which must be exactly
/// `ty.bytes_for(out.len())` bytes (whole blocks, llama.cpp layout).
///
/// Allocates nothing, so it can be called once per matrix row.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    dequantizer(ty, out.len(), bytes.len())?(bytes, out);
    Ok(())
}

/// [`dequantize`] into a new vector of `n` elements.
pub fn dequantize_to_vec(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>, QuantError> {
    // Sizes are checked first, so a bogus `n` is an error rather than a huge allocation.
    let dequantize = dequantizer(ty, n, bytes.len())?;
    let mut out = vec![0.0; n];
    dequantize(bytes, &mut out);
    Ok(out)
}

/// Quantizes `values` (a whole number of blocks) to `ty`'s llama.cpp block layout.
///
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_K follow llama.cpp's reference quantizers
/// (`quantize_row_*_ref`) step for step; Q2_K..Q6_K use a simpler scale choice than
/// llama.cpp's (valid blocks, error bounds in `kquants.rs`). Block scales are f16, so
/// inputs should stay well inside f16 range (non-finite input gives garbage, not a panic).
pub fn quantize(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>, QuantError> {
    let (bytes, (_, quantize)) = checked_size(ty, values.len())?;
    let mut out = vec![0u8; bytes];
    quantize(values, &mut out);
    Ok(out)
}
