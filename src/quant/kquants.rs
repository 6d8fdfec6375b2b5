//! The 256-element K-quant super-blocks Q4_K, Q5_K, Q6_K, and the scale planning every
//! K-quant quantizer here shares.
//!
//! Layouts (`ggml-common.h`, little endian, no padding):
//!
//! - Q4_K, 144 bytes: `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`.
//!   Eight sub-blocks of 32 with 6-bit scale `sc` and min `m` packed into `scales`
//!   (see [`scale_min_k4`]); element = `d * sc * q - dmin * m`, `q` in 0..16.
//!   `qs` holds four 64-element chunks of 32 bytes: low nibbles are the chunk's first 32
//!   elements (sub-block `2c`), high nibbles the next 32 (sub-block `2c + 1`).
//! - Q5_K, 176 bytes: `d, dmin, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`.
//!   As Q4_K, plus bit 4 of element `e` is bit `e / 32` of `qh[e % 32]`; `q` in 0..32.
//! - Q6_K, 210 bytes: `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`.
//!   Sixteen sub-blocks of 16 with signed 8-bit scales; element = `d * sc * (q - 32)`.
//!   Each 128-element half `n` uses `ql[64n..]` (low 4 bits) and `qh[32n..]` (top 2 bits):
//!   quarter `k` of the half, position `l`, takes the low nibble of `ql[64n + 32(k&1) + l]`
//!   for `k < 2`, the high nibble for `k >= 2`, and bits `2k..2k+2` of `qh[32n + l]`.
//!
//! Dequantizers mirror llama.cpp's `dequantize_row_*` loops, including the order of float
//! operations, so they agree with it bit for bit. The quantizers are simpler than
//! llama.cpp's (no iterative scale search): they pick scales that guarantee every element's
//! range is covered, which gives the error bound documented on [`plan_asym`] / [`plan_sym`].

use super::float::{f16_at_least, get_f16, put_f16};

pub(super) const QK_K: usize = 256;

/// Sub-block `j`'s 6-bit (scale, min) from a Q4_K/Q5_K `scales` array (`get_scale_min_k4`).
///
/// Sub-blocks 0..4 keep their values in the low 6 bits of bytes `j` and `j + 4`; sub-blocks
/// 4..8 keep their low 4 bits in the nibbles of byte `j + 4` and their top 2 bits in the
/// otherwise unused top bits of bytes `j - 4` (scale) and `j` (min).
pub(super) fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// The inverse of [`scale_min_k4`]: packs eight 6-bit scales and mins into 12 bytes.
pub(super) fn pack_scale_min_k4(sc: &[u8; 8], m: &[u8; 8], s: &mut [u8]) {
    s[..12].fill(0);
    for j in 0..8 {
        let (sc, m) = (sc[j] & 63, m[j] & 63);
        if j < 4 {
            s[j] |= sc;
            s[j + 4] |= m;
        } else {
            s[j + 4] = (sc & 0xF) | ((m & 0xF) << 4);
            s[j - 4] |= (sc >> 4) << 6;
            s[j] |= (m >> 4) << 6;
        }
    }
}

pub(super) fn dequantize_q4_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(144).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(b, 0);
        let dmin = get_f16(b, 2);
        let scales = &b[4..16];
        let qs = &b[16..144];
        for c in 0..4 {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
            let q = &qs[32 * c..32 * c + 32];
            let y = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                y[l] = d1 * (q[l] & 0xF) as f32 - m1;
                y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

pub(super) fn dequantize_q5_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(176).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(b, 0);
        let dmin = get_f16(b, 2);
        let scales = &b[4..16];
        let qh = &b[16..48];
        let qs = &b[48..176];
        for c in 0..4 {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            let q = &qs[32 * c..32 * c + 32];
            let y = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                y[l] = d1 * ((q[l] & 0xF) + h1) as f32 - m1;
                y[l + 32] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
            }
        }
    }
}

pub(super) fn dequantize_q6_k(bytes: &[u8], out: &mut [f32]) {
    for (b, y) in bytes.chunks_exact(210).zip(out.chunks_exact_mut(QK_K)) {
        let d = get_f16(b, 208);
        for n in 0..2 {
            let ql = &b[64 * n..64 * n + 64];
            let qh = &b[128 + 32 * n..128 + 32 * n + 32];
            let sc = &b[192 + 8 * n..192 + 8 * n + 8];
            let y = &mut y[128 * n..128 * n + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}

/// Scales of an asymmetric K-quant super-block: element = `d * sc[j] * q - dmin * m[j]`
/// with `q` in `0..=levels` and `sc`, `m` in `0..=max_code`.
pub(super) struct AsymPlan<const N: usize> {
    pub d: f32,
    pub dmin: f32,
    pub sc: [u8; N],
    pub m: [u8; N],
}

/// Chooses the scales of one asymmetric super-block of `N` sub-blocks.
///
/// With `lo_j = min(0, min x)` and `hi_j = max x` over sub-block `j`: `dmin` is the f16 at
/// or above `max(-lo_j) / max_code`, `m_j = ceil(-lo_j / dmin)`, so `M_j = dmin * m_j >=
/// -lo_j`; then `d` is the f16 at or above `max(hi_j + M_j) / (levels * max_code)` and
/// `sc_j = ceil((hi_j + M_j) / (levels * d))`. The grid `-M_j + D_j * (0..=levels)`,
/// `D_j = d * sc_j`, then covers `[lo_j, hi_j]`, so rounding errs by at most `D_j / 2`,
/// and `D_j <= (hi_j - lo_j + dmin) / levels + d`.
/// (`min(0, ..)`: the format can only subtract a min, never add one.)
pub(super) fn plan_asym<const N: usize>(x: &[f32], levels: u8, max_code: u8) -> AsymPlan<N> {
    let sub = x.len() / N;
    let mut neg = [0f32; N];
    let mut hi = [0f32; N];
    for j in 0..N {
        let xs = &x[sub * j..sub * (j + 1)];
        neg[j] = -xs.iter().fold(0f32, |a, &v| a.min(v));
        hi[j] = xs.iter().fold(f32::MIN, |a, &v| a.max(v));
    }
    let mc = max_code as f32;
    let dmin = f16_at_least(neg.iter().fold(0f32, |a, &v| a.max(v)) / mc);
    let mut m = [0u8; N];
    let mut span = [0f32; N];
    for j in 0..N {
        m[j] = code(neg[j], dmin, max_code);
        span[j] = hi[j] + dmin * m[j] as f32;
    }
    let step = levels as f32;
    let d = f16_at_least(span.iter().fold(0f32, |a, &v| a.max(v)) / (step * mc));
    let mut sc = [0u8; N];
    for j in 0..N {
        sc[j] = code(span[j], step * d, max_code);
    }
    AsymPlan { d, dmin, sc, m }
}

/// Scales of a symmetric K-quant super-block: element = `d * sc[j] * q`.
pub(super) struct SymPlan<const N: usize> {
    pub d: f32,
    pub sc: [u8; N],
}

/// Chooses the scales of one symmetric super-block of `N` sub-blocks whose levels reach
/// `-reach..=reach` (at least; the formats also have one more negative level).
///
/// With `a_j = max |x|` over sub-block `j`: `d` is the f16 at or above
/// `max(a_j) / (reach * max_code)` and `sc_j = ceil(a_j / (reach * d))`, so
/// `D_j = d * sc_j >= a_j / reach` covers the sub-block, rounding errs by at most `D_j / 2`,
/// and `D_j <= a_j / reach + d`.
pub(super) fn plan_sym<const N: usize>(x: &[f32], reach: u8, max_code: u8) -> SymPlan<N> {
    let sub = x.len() / N;
    let mut amax = [0f32; N];
    for j in 0..N {
        amax[j] = x[sub * j..sub * (j + 1)].iter().fold(0f32, |a, &v| a.max(v.abs()));
    }
    let r = reach as f32;
    let d = f16_at_least(amax.iter().fold(0f32, |a, &v| a.max(v)) / (r * max_code as f32));
    let mut sc = [0u8; N];
    for j in 0..N {
        sc[j] = code(amax[j], r * d, max_code);
    }
    SymPlan { d, sc }
}

/// `ceil(v / unit)` clamped to `0..=max` (0 when `unit` is 0; NaN casts to 0).
fn code(v: f32, unit: f32, max: u8) -> u8 {
    if unit > 0.0 {
        (v / unit).ceil().clamp(0.0, max as f32) as u8
    } else {
        0
    }
}

/// The level of `x` on the grid `-min + step * (lo..=hi)`: nearest, clamped.
pub(super) fn nearest_level(x: f32, step: f32, min: f32, lo: i32, hi: i32) -> i32 {
    if step > 0.0 {
        (((x + min) / step).round() as i32).clamp(lo, hi)
    } else {
        lo.max(0).min(hi)
    }
}

/// Levels 0..=15 or 0..=31 of a Q4_K / Q5_K super-block, in element order.
fn levels_q45(x: &[f32], p: &AsymPlan<8>, max: i32) -> [u8; QK_K] {
    let mut lv = [0u8; QK_K];
    for (e, l) in lv.iter_mut().enumerate() {
        let j = e / 32;
        let step = p.d * p.sc[j] as f32;
        let min = p.dmin * p.m[j] as f32;
        *l = nearest_level(x[e], step, min, 0, max) as u8;
    }
    lv
}

fn write_scales_q45(b: &mut [u8], p: &AsymPlan<8>) {
    put_f16(b, 0, p.d);
    put_f16(b, 2, p.dmin);
    pack_scale_min_k4(&p.sc, &p.m, &mut b[4..16]);
}

/// Low nibbles of element `e` go to `qs[32 * (e / 64) + e % 32]`, low half of the byte for
/// the first 32 elements of each 64-element chunk.
fn pack_nibbles_k(lv: &[u8; QK_K], qs: &mut [u8]) {
    qs[..128].fill(0);
    for (e, &l) in lv.iter().enumerate() {
        let shift = if e % 64 < 32 { 0 } else { 4 };
        qs[32 * (e / 64) + e % 32] |= (l & 0xF) << shift;
    }
}

pub(super) fn quantize_q4_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(144)) {
        let p = plan_asym::<8>(x, 15, 63);
        write_scales_q45(b, &p);
        pack_nibbles_k(&levels_q45(x, &p, 15), &mut b[16..144]);
    }
}

pub(super) fn quantize_q5_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(176)) {
        let p = plan_asym::<8>(x, 31, 63);
        write_scales_q45(b, &p);
        let lv = levels_q45(x, &p, 31);
        let qh = &mut b[16..48];
        qh.fill(0);
        for (e, &l) in lv.iter().enumerate() {
            qh[e % 32] |= ((l >> 4) & 1) << (e / 32);
        }
        pack_nibbles_k(&lv, &mut b[48..176]);
    }
}

pub(super) fn quantize_q6_k(values: &[f32], out: &mut [u8]) {
    for (x, b) in values.chunks_exact(QK_K).zip(out.chunks_exact_mut(210)) {
        // Levels -31..=31 (the format's -32 stays unused) and positive i8 scales.
        let p = plan_sym::<16>(x, 31, 127);
        b.fill(0);
        for (e, &v) in x.iter().enumerate() {
            let step = p.d * p.sc[e / 16] as f32;
            let l = (nearest_level(v, step, 0.0, -32, 31) + 32) as u8;
            let (n, k, i) = (e / 128, (e % 128) / 32, e % 32);
            b[64 * n + 32 * (k & 1) + i] |= (l & 0xF) << (4 * (k / 2));
            b[128 + 32 * n + i] |= (l >> 4) << (2 * k);
        }
        for (s, &sc) in b[192..208].iter_mut().zip(&p.sc) {
            *s = sc; // <= 127, so the same byte as the i8
        }
        put_f16(b, 208, p.d);
    }
}
