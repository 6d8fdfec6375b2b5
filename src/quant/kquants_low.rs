//! The low-bit K-quants Q2_K and Q3_K, and Q8_K (llama.cpp's format for quantized
//! activations; it never appears in model files but is cheap to support).
//!
//! Layouts (`ggml-common.h`, little endian, no padding), 256 elements per super-block,
//! sixteen sub-blocks of 16; sub-block of element `e` is `e / 16`:
//!
//! - Q2_K, 84 bytes: `scales: [u8; 16], qs: [u8; 64], d: f16, dmin: f16`.
//!   `scales[j]` = 4-bit scale (low nibble) and 4-bit min (high nibble);
//!   element = `d * sc * q - dmin * m`, `q` = 2 bits at shift `2 * ((e % 128) / 32)` of
//!   `qs[32 * (e / 128) + e % 32]`.
//! - Q3_K, 110 bytes: `hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16`.
//!   Low 2 bits of `q` as in Q2_K; bit `e / 32` of `hmask[e % 32]` set means `+0`, clear
//!   means `-4`, so `q` is in `-4..=3`. Sixteen 6-bit scales, stored biased by 32 (see
//!   [`scale_k3`]); element = `d * (sc - 32) * q`.
//! - Q8_K, 292 bytes: `d: f32, qs: [i8; 256], bsums: [i16; 16]`; element = `d * q`;
//!   `bsums[j]` is the sum of sub-block `j`'s `qs` (used by dot products, ignored here).

use super::float::{get_f16, put_f16};
use super::kquants::{nearest_level, plan_asym, plan_sym, QK_K};

/// Byte and shift of element `e`'s 2 low bits in a Q2_K / Q3_K `qs` array.
fn qs_pos(e: usize) -> (usize, usize) {
    (32 * (e / 128) + e % 32, 2 * ((e % 128) / 32))
}

/// Sub-block `k`'s biased 6-bit scale from a Q3_K `scales` array: low 4 bits are the low
/// nibble of byte `k` (k < 8) or the high nibble of byte `k - 8`; the top 2 bits sit at
/// shift `2 * (k / 4)` of byte `8 + k % 4`.
pub(super) fn scale_k3(k: usize, s: &[u8]) -> u8 {
    let low = if k < 8 { s[k] & 0xF } else { s[k - 8] >> 4 };
    low | (((s[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)
}

pub(super) fn dequantize_q2_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(84).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(b, 80);
        let dmin = get_f16(b, 82);
        let scales = &b[0..16];
        let qs = &b[16..80];
        for (sub, y) in y.chunks_exact_mut(16).enumerate() {
            let sc = scales[sub];
            let dl = d * (sc & 0xF) as f32;
            let ml = dmin * (sc >> 4) as f32;
            for (i, y) in y.iter_mut().enumerate() {
                let (byte, shift) = qs_pos(16 * sub + i);
                *y = dl * ((qs[byte] >> shift) & 3) as f32 - ml;
            }
        }
    }
}

pub(super) fn dequantize_q3_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(110).zip(out.chunks_exact_mut(QK_K)) {
        let hmask = &b[0..32];
        let qs = &b[32..96];
        let scales = &b[96..108];
        let d = get_f16(b, 108);
        for (sub, y) in y.chunks_exact_mut(16).enumerate() {
            let dl = d * (scale_k3(sub, scales) as i32 - 32) as f32;
            for (i, y) in y.iter_mut().enumerate() {
                let e = 16 * sub + i;
                let (byte, shift) = qs_pos(e);
                let high = hmask[e % 32] >> (e / 32) & 1;
                let q = ((qs[byte] >> shift) & 3) as i32 - if high != 0 { 0 } else { 4 };
                *y = dl * q as f32;
            }
        }
    }
}

pub(super) fn dequantize_q8_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(292).zip(out.chunks_exact_mut(QK_K)) {
        let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        for (q, y) in b[4..260].iter().zip(y.iter_mut()) {
            *y = d * (*q as i8) as f32;
        }
    }
}

pub(super) fn quantize_q2_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(84)) {
        let p = plan_asym::<16>(x, 3, 15);
        b.fill(0);
        for (s, (&sc, &m)) in b[..16].iter_mut().zip(p.sc.iter().zip(&p.m)) {
            *s = sc | (m << 4);
        }
        for (e, &v) in x.iter().enumerate() {
            let j = e / 16;
            let l = nearest_level(v, p.d * p.sc[j] as f32, p.dmin * p.m[j] as f32, 0, 3);
            let (byte, shift) = qs_pos(e);
            b[16 + byte] |= (l as u8) << shift;
        }
        put_f16(b, 80, p.d);
        put_f16(b, 82, p.dmin);
    }
}

pub(super) fn quantize_q3_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(110)) {
        // Levels -3..=3 (the format's -4 stays unused), scales 0..=31 of the signed -32..=31.
        let p = plan_sym::<16>(x, 3, 31);
        b.fill(0);
        for (e, &v) in x.iter().enumerate() {
            let q = nearest_level(v, p.d * p.sc[e / 16] as f32, 0.0, -4, 3);
            let (byte, shift) = qs_pos(e);
            b[32 + byte] |= (((q + 4) & 3) as u8) << shift;
            if q >= 0 {
                b[e % 32] |= 1 << (e / 32);
            }
        }
        let s = &mut b[96..108];
        for (k, &sc) in p.sc.iter().enumerate() {
            let v = sc + 32;
            if k < 8 {
                s[k] |= v & 0xF;
            } else {
                s[k - 8] |= (v & 0xF) << 4;
            }
            s[8 + k % 4] |= (v >> 4) << (2 * (k / 4));
        }
        put_f16(b, 108, p.d);
    }
}

/// llama.cpp's `quantize_row_q8_K_ref`: the largest-magnitude element maps to -127, levels
/// round half to even (its `nearest_int`), `d` is stored as f32.
pub(super) fn quantize_q8_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(292)) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        b.fill(0);
        if amax == 0.0 {
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b[4..260].iter_mut().zip(x) {
            *q = ((iscale * v).round_ties_even() as i32).clamp(-128, 127) as i8 as u8;
        }
        for j in 0..16 {
            let sum: i16 = b[4 + 16 * j..4 + 16 * (j + 1)].iter().map(|&q| q as i8 as i16).sum();
            b[260 + 2 * j..262 + 2 * j].copy_from_slice(&sum.to_le_bytes());
        }
        b[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}
