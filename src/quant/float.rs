//! Plain float types (F32, F16, BF16), little endian, one element per "block".
//!
//! Also the f16 field helpers the block formats share: every block scale in ggml is an
//! IEEE half stored little endian.

use half::{bf16, f16};

/// The f16 stored little endian at `b[off..off + 2]`, widened to f32.
pub(super) fn get_f16(b: &[u8], off: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[off], b[off + 1]])).to_f32()
}

/// Stores `v` rounded to nearest-even f16 (ggml's `GGML_FP32_TO_FP16`) at `b[off..off + 2]`.
pub(super) fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
}

/// The smallest f16 that is >= `v` (for `v >= 0`), as f32.
///
/// The K-quant quantizers derive integer sub-block scales by dividing by the stored f16
/// super-scale; rounding that super-scale up keeps every integer scale within its bit width.
pub(super) fn f16_at_least(v: f32) -> f32 {
    let h = f16::from_f32(v);
    if h.to_f32() < v {
        // For positive finite halves the next bit pattern is the next larger value.
        f16::from_bits(h.to_bits() + 1).to_f32()
    } else {
        h.to_f32()
    }
}

pub(super) fn dequantize_f32(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(4).zip(out.iter_mut()) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

pub(super) fn dequantize_f16(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(2).zip(out.iter_mut()) {
        *y = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    }
}

pub(super) fn dequantize_bf16(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(2).zip(out.iter_mut()) {
        // bf16 is the top half of an f32, so widening is exact.
        *y = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
    }
}

pub(super) fn quantize_f32(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.iter().zip(out.chunks_exact_mut(4)) {
        b.copy_from_slice(&x.to_le_bytes());
    }
}

pub(super) fn quantize_f16(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.iter().zip(out.chunks_exact_mut(2)) {
        b.copy_from_slice(&f16::from_f32(*x).to_bits().to_le_bytes());
    }
}

pub(super) fn quantize_bf16(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.iter().zip(out.chunks_exact_mut(2)) {
        // Round to nearest even, NaN stays NaN: the same as ggml's `GGML_FP32_TO_BF16`.
        b.copy_from_slice(&bf16::from_f32(*x).to_bits().to_le_bytes());
    }
}
