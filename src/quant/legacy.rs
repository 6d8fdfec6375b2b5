//! The 32-element "legacy" block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//!
//! Layouts (`ggml-common.h`, all little endian, no padding):
//!
//! | type | bytes | fields                                    | value of element `i`       |
//! |------|-------|-------------------------------------------|----------------------------|
//! | Q4_0 | 18    | `d: f16, qs: [u8; 16]`                    | `(q - 8) * d`              |
//! | Q4_1 | 20    | `d: f16, m: f16, qs: [u8; 16]`            | `q * d + m`                |
//! | Q5_0 | 22    | `d: f16, qh: u32, qs: [u8; 16]`           | `(q - 16) * d`             |
//! | Q5_1 | 24    | `d: f16, m: f16, qh: u32, qs: [u8; 16]`   | `q * d + m`                |
//! | Q8_0 | 34    | `d: f16, qs: [i8; 32]`                    | `q * d`                    |
//!
//! Nibble order: element `j < 16` is the low nibble of `qs[j]`, element `j + 16` the high
//! nibble of `qs[j]`. Q5 types add bit `i` of `qh` as bit 4 of element `i`.
//!
//! The quantizers follow llama.cpp's `quantize_row_*_ref` step for step (same scale choice,
//! same rounding), so their output matches llama.cpp's byte for byte on finite input.

use super::float::{get_f16, put_f16};

const QK: usize = 32;

/// The low nibbles of `qs` are elements 0..16, the high nibbles elements 16..32.
fn nibble(qs: &[u8], i: usize) -> u8 {
    if i < 16 {
        qs[i] & 0xF
    } else {
        qs[i - 16] >> 4
    }
}

pub(super) fn dequantize_q4_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(18).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b, 0);
        let qs = &b[2..18];
        for (i, y) in y.iter_mut().enumerate() {
            *y = (nibble(qs, i) as i32 - 8) as f32 * d;
        }
    }
}

pub(super) fn dequantize_q4_1(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(20).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b, 0);
        let m = get_f16(b, 2);
        let qs = &b[4..20];
        for (i, y) in y.iter_mut().enumerate() {
            *y = nibble(qs, i) as f32 * d + m;
        }
    }
}

pub(super) fn dequantize_q5_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(22).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = &b[6..22];
        for (i, y) in y.iter_mut().enumerate() {
            let q = nibble(qs, i) as i32 | (((qh >> i) & 1) << 4) as i32;
            *y = (q - 16) as f32 * d;
        }
    }
}

pub(super) fn dequantize_q5_1(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(24).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b, 0);
        let m = get_f16(b, 2);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let qs = &b[8..24];
        for (i, y) in y.iter_mut().enumerate() {
            let q = nibble(qs, i) as u32 | (((qh >> i) & 1) << 4);
            *y = q as f32 * d + m;
        }
    }
}

pub(super) fn dequantize_q8_0(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(34).zip(out.chunks_exact_mut(QK)) {
        let d = get_f16(b, 0);
        for (q, y) in b[2..34].iter().zip(y.iter_mut()) {
            *y = (*q as i8) as f32 * d;
        }
    }
}

/// The element of largest magnitude, with its sign (the first one on ties), like ggml's
/// `amax`/`max` scan. Symmetric formats map it to the extreme negative level exactly.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// ggml converts `x + offset` to an integer by truncation (`(int8_t)` casts), which is
/// rounding half up for the non-negative arguments it sees; the clamp keeps non-finite input
/// from producing out-of-range levels (the cast saturates, NaN becomes 0).
fn level(v: f32, max: i32) -> u8 {
    (v as i32).clamp(0, max) as u8
}

pub(super) fn quantize_q4_0(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK).zip(out.chunks_exact_mut(18)) {
        let d = signed_absmax(x) / -8.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        for j in 0..16 {
            let lo = level(x[j] * id + 8.5, 15);
            let hi = level(x[j + 16] * id + 8.5, 15);
            b[2 + j] = lo | (hi << 4);
        }
    }
}

pub(super) fn quantize_q4_1(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK).zip(out.chunks_exact_mut(20)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        for j in 0..16 {
            let lo = level((x[j] - min) * id + 0.5, 15);
            let hi = level((x[j + 16] - min) * id + 0.5, 15);
            b[4 + j] = lo | (hi << 4);
        }
    }
}

/// Packs 32 five-bit levels into Q5's `qh` (bit 4 of each) and `qs` (low nibbles).
fn pack_q5(levels: &[u8; QK], qh: &mut [u8], qs: &mut [u8]) {
    let mut h = 0u32;
    for (i, &l) in levels.iter().enumerate() {
        h |= ((l as u32 >> 4) & 1) << i;
    }
    qh.copy_from_slice(&h.to_le_bytes());
    for j in 0..16 {
        qs[j] = (levels[j] & 0xF) | ((levels[j + 16] & 0xF) << 4);
    }
}

pub(super) fn quantize_q5_0(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK).zip(out.chunks_exact_mut(22)) {
        let d = signed_absmax(x) / -16.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        let mut levels = [0u8; QK];
        for (l, &v) in levels.iter_mut().zip(x) {
            *l = level(v * id + 16.5, 31);
        }
        let (qh, qs) = b[2..22].split_at_mut(4);
        pack_q5(&levels, qh, qs);
    }
}

pub(super) fn quantize_q5_1(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK).zip(out.chunks_exact_mut(24)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        let mut levels = [0u8; QK];
        for (l, &v) in levels.iter_mut().zip(x) {
            *l = level((v - min) * id + 0.5, 31);
        }
        let (qh, qs) = b[4..24].split_at_mut(4);
        pack_q5(&levels, qh, qs);
    }
}

pub(super) fn quantize_q8_0(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK).zip(out.chunks_exact_mut(34)) {
        let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        for (q, &v) in b[2..34].iter_mut().zip(x) {
            // `f32::round` is C's `roundf` (half away from zero); the cast saturates.
            *q = (v * id).round() as i8 as u8;
        }
    }
}
