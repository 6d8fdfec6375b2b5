//! The ggml quantization reference (`lfm_webgpu::quant`) against hand-built blocks,
//! derived per-element error bounds, and bad input.
//!
//! Hand-built blocks: the expected values are worked out by hand from the layouts in
//! llama.cpp's `ggml-common.h` / `dequantize_row_*` (the arithmetic is in the comments), so
//! they check the element order and bit packing independently of the implementation.

use lfm_webgpu::quant::{dequantize, dequantize_to_vec, quantize, GgmlType, QuantError};

const SUPPORTED: [GgmlType; 14] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_K,
];

// ---------------------------------------------------------------- test data

use lfm_webgpu::rng::Rng;

/// `n` values in 32-element groups of different character, so that blocks and K-quant
/// sub-blocks see: plain Gaussians, tiny and large scales, all zeros, all positive, all
/// negative, and a single outlier.
fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut x: Vec<f32> = (0..n).map(|_| rng.gauss()).collect();
    for (g, group) in x.chunks_mut(32).enumerate() {
        match g % 9 {
            0..=2 => {}
            3 => group.iter_mut().for_each(|v| *v *= 0.01),
            4 => group.iter_mut().for_each(|v| *v *= 30.0),
            5 => group.fill(0.0),
            6 => group.iter_mut().for_each(|v| *v = 3.0 + 0.5 * *v),
            7 => group.iter_mut().for_each(|v| *v = -3.0 + 0.5 * *v),
            _ => group[g % 32] = 20.0,
        }
    }
    x
}

fn le_f16(bits: u16) -> [u8; 2] {
    bits.to_le_bytes()
}

fn amax(x: &[f32]) -> f32 {
    x.iter().fold(0.0, |a, v| a.max(v.abs()))
}

/// The largest error of rounding `v` to f16 (round to nearest; 2^-25 below the normals).
fn f16_err(v: f32) -> f32 {
    v.abs() * 2f32.powi(-11) + 2f32.powi(-25)
}

/// An upper bound for the f16 at or above `v` (the K-quant quantizers round scales up).
fn f16_up(v: f32) -> f32 {
    v * (1.0 + 2f32.powi(-10)) + 2f32.powi(-24)
}

fn assert_all_eq(ty: GgmlType, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w, "{ty} element {i}: got {g}, want {w}");
    }
}

// ---------------------------------------------------------------- round-trip bounds

/// Quantizes and dequantizes `x`, and asserts `|x - x'| <= bound(block, i)` per element,
/// where `bound` gets the whole block of `x` and the index within it.
fn check_round_trip(ty: GgmlType, x: &[f32], bound: impl Fn(&[f32], usize) -> f32) {
    let q = quantize(ty, x).unwrap();
    assert_eq!(q.len() as u64, ty.bytes_for(x.len() as u64).unwrap());
    let y = dequantize_to_vec(ty, &q, x.len()).unwrap();
    let bs = ty.block_size();
    for (b, (xb, yb)) in x.chunks(bs).zip(y.chunks(bs)).enumerate() {
        // f32 slack for the few roundings in the (de)quantizer arithmetic.
        let slack = 4e-6 * amax(xb);
        for (i, (&xv, &yv)) in xb.iter().zip(yb).enumerate() {
            let bound = bound(xb, i) + slack;
            let err = (xv - yv).abs();
            assert!(
                err <= bound,
                "{ty} element {}: x = {xv}, dequantized = {yv}, |err| = {err} > bound {bound}",
                b * bs + i
            );
        }
    }
}

/// Signed value of largest magnitude, as llama.cpp's symmetric quantizers pick it.
fn signed_absmax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

/// Q4_0 / Q5_0: `d = max / -half` maps the extreme element to level 0; the others round to
/// nearest (error <= |d| / 2) except that the top level `2 * half` does not exist, so
/// `x / d` in [half - 0.5, half] clamps down by up to |d|. Stored `d` is f16, off by
/// `f16_err(d)` per level, times up to `half` levels.
fn symmetric_legacy_bound(x: &[f32], i: usize, half: f32) -> f32 {
    let d = signed_absmax(x) / -half;
    let t = if d != 0.0 { x[i] / d } else { 0.0 };
    let rounding = if t > half - 0.5 - 1e-4 { d.abs() } else { d.abs() / 2.0 };
    rounding + half * f16_err(d)
}

/// Q4_1 / Q5_1: `d = (max - min) / levels`, nearest level (<= d / 2); f16 `d` and `m`.
fn affine_legacy_bound(x: &[f32], levels: f32) -> f32 {
    let min = x.iter().fold(f32::MAX, |a, &v| a.min(v));
    let max = x.iter().fold(-f32::MAX, |a, &v| a.max(v));
    let d = (max - min) / levels;
    d / 2.0 + f16_err(min) + levels * f16_err(d)
}

/// Per-sub-block bound of the asymmetric K-quants (Q2_K, Q4_K, Q5_K), as derived in
/// `kquants.rs::plan_asym`: `|err| <= D_j / 2` with
/// `D_j <= (hi_j - lo_j + dmin) / levels + d`, `lo_j = min(0, min)`, `hi_j = max`,
/// `dmin <= f16_up(max(-lo) / max_code)`, `d <= f16_up(max(hi - lo + dmin) / (levels * max_code))`.
fn asym_kquant_bound(x: &[f32], i: usize, sub: usize, levels: f32, max_code: f32) -> f32 {
    let ranges: Vec<(f32, f32)> = x
        .chunks(sub)
        .map(|s| (s.iter().fold(0f32, |a, &v| a.min(v)), s.iter().fold(f32::MIN, |a, &v| a.max(v))))
        .collect();
    let dmin = f16_up(ranges.iter().fold(0f32, |a, r| a.max(-r.0)) / max_code);
    let span = |r: &(f32, f32)| r.1 - r.0 + dmin;
    let d = f16_up(ranges.iter().fold(0f32, |a, r| a.max(span(r))) / (levels * max_code));
    (span(&ranges[i / sub]) / levels + d) / 2.0
}

/// Per-sub-block bound of the symmetric K-quants (Q3_K, Q6_K), from `plan_sym`:
/// `|err| <= D_j / 2`, `D_j <= a_j / reach + d`, `d <= f16_up(max(a) / (reach * max_code))`.
fn sym_kquant_bound(x: &[f32], i: usize, sub: usize, reach: f32, max_code: f32) -> f32 {
    let a: Vec<f32> = x.chunks(sub).map(amax).collect();
    let d = f16_up(a.iter().fold(0f32, |m, &v| m.max(v)) / (reach * max_code));
    (a[i / sub] / reach + d) / 2.0
}

#[test]
fn legacy_round_trip_within_bounds() {
    let x = test_values(25 * 32, 1);
    check_round_trip(GgmlType::Q8_0, &x, |b, _| {
        // d = amax / 127, q = round(x / d): error d / 2, plus f16 d times up to 127 levels.
        let d = amax(b) / 127.0;
        d / 2.0 + 127.0 * f16_err(d)
    });
    check_round_trip(GgmlType::Q4_0, &x, |b, i| symmetric_legacy_bound(b, i, 8.0));
    check_round_trip(GgmlType::Q5_0, &x, |b, i| symmetric_legacy_bound(b, i, 16.0));
    check_round_trip(GgmlType::Q4_1, &x, |b, _| affine_legacy_bound(b, 15.0));
    check_round_trip(GgmlType::Q5_1, &x, |b, _| affine_legacy_bound(b, 31.0));
}

#[test]
fn kquant_round_trip_within_bounds() {
    let x = test_values(3 * 256, 2);
    check_round_trip(GgmlType::Q4_K, &x, |b, i| asym_kquant_bound(b, i, 32, 15.0, 63.0));
    check_round_trip(GgmlType::Q5_K, &x, |b, i| asym_kquant_bound(b, i, 32, 31.0, 63.0));
    check_round_trip(GgmlType::Q2_K, &x, |b, i| asym_kquant_bound(b, i, 16, 3.0, 15.0));
    check_round_trip(GgmlType::Q6_K, &x, |b, i| sym_kquant_bound(b, i, 16, 31.0, 127.0));
    check_round_trip(GgmlType::Q3_K, &x, |b, i| sym_kquant_bound(b, i, 16, 3.0, 31.0));
    // llama.cpp's Q8_K: d = max / -127 stored as f32, levels round to nearest.
    check_round_trip(GgmlType::Q8_K, &x, |b, _| amax(b) / 127.0 / 2.0);
}

/// Relative RMS error on plain Gaussian data, so a quantizer that meets its bound only by
/// using huge scales would still fail. Limits are about 1.4x what the quantizers reach
/// (e.g. Q8_0 0.0053, Q6_K 0.0195, Q5_K 0.039, Q4_K 0.079, Q3_K 0.20, Q2_K 0.35).
#[test]
fn round_trip_rms_error_is_small() {
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..16 * 256).map(|_| rng.gauss()).collect();
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (s, n) = v.fold((0f64, 0usize), |(s, n), e| (s + (e as f64).powi(2), n + 1));
        (s / n as f64).sqrt()
    };
    let x_rms = rms(&mut x.iter().copied());
    for (ty, limit) in [
        (GgmlType::Q8_0, 0.008),
        (GgmlType::Q8_K, 0.010),
        (GgmlType::Q6_K, 0.028),
        (GgmlType::Q5_0, 0.06),
        (GgmlType::Q5_1, 0.055),
        (GgmlType::Q5_K, 0.055),
        (GgmlType::Q4_0, 0.12),
        (GgmlType::Q4_1, 0.11),
        (GgmlType::Q4_K, 0.11),
        (GgmlType::Q3_K, 0.28),
        (GgmlType::Q2_K, 0.49),
    ] {
        let y = dequantize_to_vec(ty, &quantize(ty, &x).unwrap(), x.len()).unwrap();
        let rel = rms(&mut x.iter().zip(&y).map(|(a, b)| a - b)) / x_rms;
        assert!(rel < limit, "{ty}: relative RMS error {rel:.4} >= {limit}");
    }
}

/// Values already on a Q8_0 / Q4_0 grid with an f16-exact scale come back exactly.
#[test]
fn on_grid_values_round_trip_exactly() {
    // Q8_0: k * 0.5 for k in -127..=127; -63.5 in every block makes d = 63.5 / 127 = 0.5.
    let x: Vec<f32> =
        (0..8 * 32).map(|i| if i % 32 == 0 { -63.5 } else { ((i * 37) % 255) as f32 * 0.5 - 63.5 }).collect();
    let y = dequantize_to_vec(GgmlType::Q8_0, &quantize(GgmlType::Q8_0, &x).unwrap(), x.len());
    assert_all_eq(GgmlType::Q8_0, &y.unwrap(), &x);
    // Q4_0: (q - 8) * 0.25 for q in 0..16; -2.0 in every block makes d = -2 / -8 = 0.25.
    let x: Vec<f32> = (0..5 * 32).map(|i| ((i * 7) % 16) as f32 * 0.25 - 2.0).collect();
    let y = dequantize_to_vec(GgmlType::Q4_0, &quantize(GgmlType::Q4_0, &x).unwrap(), x.len());
    assert_all_eq(GgmlType::Q4_0, &y.unwrap(), &x);
}

#[test]
fn float_types_round_trip_exactly() {
    // Every f16 and bf16 bit pattern except NaNs survives decode + encode unchanged.
    for ty in [GgmlType::F16, GgmlType::BF16] {
        let exp_mask: u16 = if ty == GgmlType::F16 { 0x7C00 } else { 0x7F80 };
        let bits: Vec<u16> =
            (0..=u16::MAX).filter(|b| b & exp_mask != exp_mask || b & !(exp_mask | 0x8000) == 0).collect();
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let y = dequantize_to_vec(ty, &bytes, bits.len()).unwrap();
        let back = quantize(ty, &y).unwrap();
        for (i, (a, b)) in bytes.chunks(2).zip(back.chunks(2)).enumerate() {
            assert_eq!(a, b, "{ty} pattern {:#06x} -> {} -> {:02x?}", bits[i], y[i], b);
        }
    }
    // f32 bit patterns, NaN payloads included, pass through untouched.
    let mut rng = Rng::new(4);
    let x: Vec<f32> = (0..999).map(|_| f32::from_bits(rng.next_u64() as u32)).collect();
    let y = dequantize_to_vec(GgmlType::F32, &quantize(GgmlType::F32, &x).unwrap(), x.len());
    for (i, (a, b)) in x.iter().zip(y.unwrap()).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "F32 element {i}: {a} -> {b}");
    }
}

#[test]
fn f16_and_bf16_encode_rounds_to_nearest_even() {
    // 1 + 2^-11 is halfway between f16 1.0 and 1 + 2^-10: ties go to the even 1.0.
    // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties go to 1 + 2^-9.
    let q = quantize(GgmlType::F16, &[1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-11)]).unwrap();
    assert_eq!(q, [le_f16(0x3C00), le_f16(0x3C02)].concat());
    // bf16 keeps 7 mantissa bits: 1 + 2^-8 ties to 1.0, 1 + 3 * 2^-8 to 1 + 2^-6.
    let q = quantize(GgmlType::BF16, &[1.0 + 2f32.powi(-8), 1.0 + 3.0 * 2f32.powi(-8)]).unwrap();
    assert_eq!(q, [0x80, 0x3F, 0x82, 0x3F]);
}

// ---------------------------------------------------------------- hand-built blocks

#[test]
fn hand_built_float_values() {
    let f32_bytes: Vec<u8> = [1.5f32, -2.0, 1e-40, f32::INFINITY].iter().flat_map(|v| v.to_le_bytes()).collect();
    let y = dequantize_to_vec(GgmlType::F32, &f32_bytes, 4).unwrap();
    assert_all_eq(GgmlType::F32, &y, &[1.5, -2.0, 1e-40, f32::INFINITY]);
    // f16: 0x3C00 = 1, 0xC000 = -2, 0x0001 = 2^-24 (smallest subnormal), 0x7BFF = 65504,
    // 0x3555 = 2^-2 * (1 + 0x155 / 1024) = 1365 / 4096.
    let f16_bytes = [le_f16(0x3C00), le_f16(0xC000), le_f16(0x0001), le_f16(0x7BFF), le_f16(0x3555)].concat();
    let y = dequantize_to_vec(GgmlType::F16, &f16_bytes, 5).unwrap();
    assert_all_eq(GgmlType::F16, &y, &[1.0, -2.0, 2f32.powi(-24), 65504.0, 1365.0 / 4096.0]);
    // bf16 is the top half of an f32: 0x3F80 = 1, 0xC040 = -3, 0x4049 = 3.140625.
    let y = dequantize_to_vec(GgmlType::BF16, &[0x80, 0x3F, 0x40, 0xC0, 0x49, 0x40], 3).unwrap();
    assert_all_eq(GgmlType::BF16, &y, &[1.0, -3.0, 3.140625]);
}

#[test]
fn hand_built_q4_0_and_q4_1() {
    // qs[j] = j | (15 - j) << 4: element j < 16 has level j, element 16 + j level 15 - j.
    let qs: Vec<u8> = (0..16u8).map(|j| j | ((15 - j) << 4)).collect();
    // Q4_0, d = 0.5: (level - 8) * 0.5.
    let block = [&le_f16(0x3800)[..], &qs].concat();
    let want = [
        -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, //
        3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0,
    ];
    assert_all_eq(GgmlType::Q4_0, &dequantize_to_vec(GgmlType::Q4_0, &block, 32).unwrap(), &want);
    // Q4_1, d = 0.25, m = -1: level * 0.25 - 1.
    let block = [&le_f16(0x3400)[..], &le_f16(0xBC00), &qs].concat();
    let want = [
        -1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, //
        2.75, 2.5, 2.25, 2.0, 1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.25, 0.0, -0.25, -0.5, -0.75, -1.0,
    ];
    assert_all_eq(GgmlType::Q4_1, &dequantize_to_vec(GgmlType::Q4_1, &block, 32).unwrap(), &want);
}

#[test]
fn hand_built_q5_0_and_q5_1_high_bits() {
    // Q5_0, d = 1: qh bits 0, 3, 16, 31 set (LE bytes 09 00 01 80).
    // qs[3] = 0x0F: element 3 low nibble 15 (+16 from bit 3) -> 31 - 16 = 15; element 19 = 0.
    // qs[4] = 0x70: element 20 high nibble 7, bit 20 clear -> 7 - 16 = -9.
    // qs[15] = 0xF0: element 31 high nibble 15 (+16 from bit 31) -> 15.
    // Element 0: nibble 0 + 16 -> 0. Element 16: nibble 0 + 16 (bit 16) -> 0. Others -16.
    let mut qs = [0u8; 16];
    (qs[3], qs[4], qs[15]) = (0x0F, 0x70, 0xF0);
    let block = [&le_f16(0x3C00)[..], &[0x09, 0x00, 0x01, 0x80], &qs].concat();
    let mut want = [-16.0f32; 32];
    (want[0], want[3], want[16], want[20], want[31]) = (0.0, 15.0, 0.0, -9.0, 15.0);
    assert_all_eq(GgmlType::Q5_0, &dequantize_to_vec(GgmlType::Q5_0, &block, 32).unwrap(), &want);

    // Q5_1, d = 0.5, m = 2: qh bits 2 and 17 (LE bytes 04 00 02 00).
    // qs[1] = 0x0F: element 1 = 15 -> 9.5; element 17 = 0 + 16 (bit 17) -> 10.
    // qs[2] = 0x31: element 2 = 1 + 16 (bit 2) -> 10.5; element 18 = 3 -> 3.5. Others 2.
    let mut qs = [0u8; 16];
    (qs[1], qs[2]) = (0x0F, 0x31);
    let block = [&le_f16(0x3800)[..], &le_f16(0x4000), &[0x04, 0x00, 0x02, 0x00], &qs].concat();
    let mut want = [2.0f32; 32];
    (want[1], want[2], want[17], want[18]) = (9.5, 10.5, 10.0, 3.5);
    assert_all_eq(GgmlType::Q5_1, &dequantize_to_vec(GgmlType::Q5_1, &block, 32).unwrap(), &want);
}

#[test]
fn hand_built_q8_0_and_q8_k() {
    // Q8_0, d = 0.125: i8 levels -128, -1, 0, 1, 127, then 16s.
    let mut qs = [16u8; 32];
    qs[..5].copy_from_slice(&[0x80, 0xFF, 0x00, 0x01, 0x7F]);
    let block = [&le_f16(0x3000)[..], &qs].concat();
    let mut want = [2.0f32; 32];
    want[..5].copy_from_slice(&[-16.0, -0.125, 0.0, 0.125, 15.875]);
    assert_all_eq(GgmlType::Q8_0, &dequantize_to_vec(GgmlType::Q8_0, &block, 32).unwrap(), &want);

    // Q8_K, d = 0.25 (f32): levels -128, -1, 0, 5, 127, then 2s; bsums do not affect values.
    let mut qs = [2u8; 256];
    qs[..5].copy_from_slice(&[0x80, 0xFF, 0x00, 0x05, 0x7F]);
    let block = [&0.25f32.to_le_bytes()[..], &qs, &[0xAB; 32]].concat();
    let mut want = [0.5f32; 256];
    want[..5].copy_from_slice(&[-32.0, -0.25, 0.0, 1.25, 31.75]);
    assert_all_eq(GgmlType::Q8_K, &dequantize_to_vec(GgmlType::Q8_K, &block, 256).unwrap(), &want);
}

/// Sub-block scales `sc = [1, 2, 3, 63, 17, 33, 48, 5]` and mins
/// `m = [0, 1, 62, 4, 40, 7, 16, 63]`, packed by hand as `get_scale_min_k4` reads them:
/// bytes 0..4 = sc[0..4] | (sc[4..8] >> 4) << 6 = 1|0x40, 2|0x80, 3|0xC0, 63;
/// bytes 4..8 = m[0..4] | (m[4..8] >> 4) << 6 = 0|0x80, 1, 62|0x40, 4|0xC0;
/// bytes 8..12 = (sc[4..8] & 15) | (m[4..8] & 15) << 4 = 0x81, 0x71, 0x00, 0xF5.
const K4_SCALES: [u8; 12] = [0x41, 0x82, 0xC3, 0x3F, 0x80, 0x01, 0x7E, 0xC4, 0x81, 0x71, 0x00, 0xF5];

/// With d = 0.5, dmin = 0.25, and `qs` all 0x53 (low nibble 3 for the even sub-blocks,
/// high nibble 5 for the odd ones): 0.5 * sc * q - 0.25 * m per sub-block.
const K4_UNIFORM: [f32; 8] = [
    1.5,   // 0.5 * 1 * 3 - 0
    4.75,  // 0.5 * 2 * 5 - 0.25
    -11.0, // 0.5 * 3 * 3 - 15.5
    156.5, // 0.5 * 63 * 5 - 1
    15.5,  // 0.5 * 17 * 3 - 10
    80.75, // 0.5 * 33 * 5 - 1.75
    68.0,  // 0.5 * 48 * 3 - 4
    -3.25, // 0.5 * 5 * 5 - 15.75
];

#[test]
fn hand_built_q4_k_scales_and_order() {
    let header = [&le_f16(0x3800)[..], &le_f16(0x3400), &K4_SCALES].concat();
    // Block 0: uniform nibbles.
    let mut bytes = [&header[..], &[0x53; 128]].concat();
    let mut want: Vec<f32> = (0..256).map(|e| K4_UNIFORM[e / 32]).collect();
    // Block 1: zero nibbles except a few, to pin the element order: qs[32c + l] holds
    // element 64c + l (low nibble) and 64c + 32 + l (high nibble).
    let mut qs = [0u8; 128];
    (qs[0], qs[31], qs[32], qs[127]) = (0xF0, 0x0F, 0x1E, 0x97);
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&qs);
    let mins = [0.0, -0.25, -15.5, -1.0, -10.0, -1.75, -4.0, -15.75]; // -0.25 * m
    let mut block1: Vec<f32> = (0..256).map(|e| mins[e / 32]).collect();
    block1[0] = 0.0; // 0.5 * 1 * 0 - 0
    block1[31] = 7.5; // 0.5 * 1 * 15 - 0
    block1[32] = 14.75; // 0.5 * 2 * 15 - 0.25
    block1[63] = -0.25; // level 0
    block1[64] = 5.5; // 0.5 * 3 * 14 - 15.5
    block1[96] = 30.5; // 0.5 * 63 * 1 - 1
    block1[223] = 164.0; // 0.5 * 48 * 7 - 4
    block1[255] = 6.75; // 0.5 * 5 * 9 - 15.75
    want.extend_from_slice(&block1);
    let y = dequantize_to_vec(GgmlType::Q4_K, &bytes, 512).unwrap();
    assert_all_eq(GgmlType::Q4_K, &y, &want);
}

#[test]
fn hand_built_q5_k_high_bits() {
    // As the uniform Q4_K block; bit b of qh[l] adds 16 to element 32 * b + l:
    // qh[0] bit 0 -> element 0; qh[5] bits 1 and 7 -> elements 37 and 229;
    // qh[31] bit 4 -> element 159.
    let mut qh = [0u8; 32];
    (qh[0], qh[5], qh[31]) = (0x01, 0x82, 0x10);
    let block = [&le_f16(0x3800)[..], &le_f16(0x3400), &K4_SCALES, &qh, &[0x53; 128]].concat();
    let mut want: Vec<f32> = (0..256).map(|e| K4_UNIFORM[e / 32]).collect();
    want[0] = 9.5; // 0.5 * 1 * (3 + 16) - 0
    want[37] = 20.75; // 0.5 * 2 * (5 + 16) - 0.25
    want[159] = 151.5; // 0.5 * 17 * (3 + 16) - 10
    want[229] = 36.75; // 0.5 * 5 * (5 + 16) - 15.75
    assert_all_eq(GgmlType::Q5_K, &dequantize_to_vec(GgmlType::Q5_K, &block, 256).unwrap(), &want);
}

#[test]
fn hand_built_q6_k() {
    // d = 0.5, scales (i8) 1..=8, -1..=-7, -128. With ql = qh = 0 every level is 0 - 32, so
    // element e is 0.5 * sc[e / 16] * -32 = -16 * sc.
    let scales: [i8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -128];
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    // First half, l = 0: ql[0] = 0x5A, qh[0] = 0b11_10_01_00.
    //   element 0:  low nibble of ql[0] = 10, qh bits 0..2 = 0 -> 10 - 32 = -22
    //   element 32: low nibble of ql[32] = 0, qh bits 2..4 = 1 -> 16 - 32 = -16
    //   element 64: high nibble of ql[0] = 5, qh bits 4..6 = 2 -> 37 - 32 = 5
    //   element 96: high nibble of ql[32] = 0, qh bits 6..8 = 3 -> 48 - 32 = 16
    (ql[0], qh[0]) = (0x5A, 0xE4);
    // Second half, l = 17: ql[64 + 32 + 17] = 0xC3, qh[32 + 17] = 0b01_00_10_00.
    //   element 128 + 32 + 17 = 177: low nibble 3, qh bits 2..4 = 2 -> 35 - 32 = 3
    //   element 128 + 96 + 17 = 241: high nibble 12, qh bits 6..8 = 1 -> 28 - 32 = -4
    (ql[113], qh[49]) = (0xC3, 0x48);
    let block = [&ql[..], &qh, &scales.map(|s| s as u8), &le_f16(0x3800)].concat();
    let mut want: Vec<f32> = (0..256).map(|e| -16.0 * scales[e / 16] as f32).collect();
    want[0] = -11.0; // 0.5 * 1 * -22
    want[32] = -24.0; // 0.5 * 3 * -16
    want[64] = 12.5; // 0.5 * 5 * 5
    want[96] = 56.0; // 0.5 * 7 * 16
    want[177] = -6.0; // 0.5 * -4 * 3
    want[241] = 256.0; // 0.5 * -128 * -4
    assert_all_eq(GgmlType::Q6_K, &dequantize_to_vec(GgmlType::Q6_K, &block, 256).unwrap(), &want);
}

#[test]
fn hand_built_q2_k() {
    // scales[j] = j | (15 - j) << 4 (scale j, min 15 - j); d = 0.5, dmin = 1.
    // qs = 0 gives element e: -(15 - e / 16).
    let scales: Vec<u8> = (0..16u8).map(|j| j | ((15 - j) << 4)).collect();
    let mut qs = [0u8; 64];
    // qs[0] = 0b11_10_01_00: 2-bit levels of elements 0, 32, 64, 96 are 0, 1, 2, 3.
    // qs[16] = 0x0C: bits 2..4 = 3 -> element 32 + 16 = 48.
    // qs[63] = 0x03: second half, l = 31, bits 0..2 = 3 -> element 128 + 31 = 159.
    (qs[0], qs[16], qs[63]) = (0xE4, 0x0C, 0x03);
    let block = [&scales[..], &qs, &le_f16(0x3800), &le_f16(0x3C00)].concat();
    let mut want: Vec<f32> = (0..256).map(|e| -(15.0 - (e / 16) as f32)).collect();
    want[0] = -15.0; // 0.5 * 0 * 0 - 15
    want[32] = -12.0; // 0.5 * 2 * 1 - 13
    want[48] = -7.5; // 0.5 * 3 * 3 - 12
    want[64] = -7.0; // 0.5 * 4 * 2 - 11
    want[96] = 0.0; // 0.5 * 6 * 3 - 9
    want[159] = 7.5; // 0.5 * 9 * 3 - 6
    assert_all_eq(GgmlType::Q2_K, &dequantize_to_vec(GgmlType::Q2_K, &block, 256).unwrap(), &want);
}

#[test]
fn hand_built_q3_k() {
    // Biased 6-bit scales v = [0, 1, 31, 32, 33, 63, 10, 20, 40, 50, 60, 5, 15, 25, 35, 45]
    // (signed v - 32 = [-32, -31, -1, 0, 1, 31, -22, -12, 8, 18, 28, -27, -17, -7, 3, 13]).
    // Low nibbles: bytes 0..8 take v[0..8] & 15, their high nibbles v[8..16] & 15:
    //   v & 15 = [0, 1, 15, 0, 1, 15, 10, 4 | 8, 2, 12, 5, 15, 9, 3, 13]
    //   -> 0x80, 0x21, 0xCF, 0x50, 0xF1, 0x9F, 0x3A, 0xD4.
    // Top 2 bits v >> 4 = [0, 0, 1, 2, 2, 3, 0, 1, 2, 3, 3, 0, 0, 1, 2, 2]; byte 8 + k % 4
    // holds scale k's at shift 2 * (k / 4):
    //   byte 8:  k = 0, 4, 8, 12  -> 0 | 2 << 2 | 2 << 4 | 0 << 6 = 0x28
    //   byte 9:  k = 1, 5, 9, 13  -> 0 | 3 << 2 | 3 << 4 | 1 << 6 = 0x7C
    //   byte 10: k = 2, 6, 10, 14 -> 1 | 0 << 2 | 3 << 4 | 2 << 6 = 0xB1
    //   byte 11: k = 3, 7, 11, 15 -> 2 | 1 << 2 | 0 << 4 | 2 << 6 = 0x86
    let scales = [0x80, 0x21, 0xCF, 0x50, 0xF1, 0x9F, 0x3A, 0xD4, 0x28, 0x7C, 0xB1, 0x86];
    let signed = [-32, -31, -1, 0, 1, 31, -22, -12, 8, 18, 28, -27, -17, -7, 3, 13];
    // hmask = 0 and qs = 0: level 0 - 4 everywhere, element = 0.5 * s * -4 = -2 * s.
    let mut hmask = [0u8; 32];
    let mut qs = [0u8; 64];
    // Element 0: hmask[0] bit 0 set (+0), qs[0] bits 0..2 = 3 -> level 3, 0.5 * -32 * 3.
    (hmask[0], qs[0]) = (0x01, 0x03);
    // Element 229 = 128 + 3 * 32 + 5: hmask[5] bit 7 set, qs[32 + 5] bits 6..8 = 2 -> 2.
    (hmask[5], qs[37]) = (0x80, 0x80);
    // Element 100 = 3 * 32 + 4: hmask bit clear, qs[4] bits 6..8 = 1 -> 1 - 4 = -3.
    // (Element 36 shares qs[4], bits 2..4 = 0, and keeps the default.)
    qs[4] = 0x40;
    let block = [&hmask[..], &qs, &scales, &le_f16(0x3800)].concat();
    let mut want: Vec<f32> = (0..256).map(|e| -2.0 * signed[e / 16] as f32).collect();
    want[0] = -48.0; // 0.5 * -32 * 3
    want[229] = 3.0; // 0.5 * 3 * 2
    want[100] = 33.0; // 0.5 * -22 * -3
    assert_all_eq(GgmlType::Q3_K, &dequantize_to_vec(GgmlType::Q3_K, &block, 256).unwrap(), &want);
}

// ---------------------------------------------------------------- API behaviour

/// A matrix dequantized row by row into slices of one buffer equals the whole at once.
#[test]
fn row_at_a_time_matches_whole_tensor() {
    let (rows, cols) = (3, 512);
    let x = test_values(rows * cols, 5);
    for ty in SUPPORTED {
        let q = quantize(ty, &x).unwrap();
        let whole = dequantize_to_vec(ty, &q, x.len()).unwrap();
        let row_bytes = ty.bytes_for(cols as u64).unwrap() as usize;
        let mut by_row = vec![0.0; x.len()];
        for (qr, yr) in q.chunks(row_bytes).zip(by_row.chunks_mut(cols)) {
            dequantize(ty, qr, yr).unwrap();
        }
        for (i, (a, b)) in whole.iter().zip(&by_row).enumerate() {
            assert!(a.to_bits() == b.to_bits(), "{ty} element {i}: whole {a}, by row {b}");
        }
    }
}

#[test]
fn can_dequantize_lists_exactly_the_supported_types() {
    for id in 0..64 {
        let Some(ty) = GgmlType::from_id(id) else {
            continue;
        };
        assert_eq!(ty.can_dequantize(), SUPPORTED.contains(&ty), "{ty}");
    }
}

#[test]
fn unsupported_types_are_errors() {
    for ty in [GgmlType::Q8_1, GgmlType::IQ2_XXS, GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::I32] {
        let n = ty.block_size() * 2;
        let bytes = vec![0u8; ty.type_size() * 2];
        let mut out = vec![0.0; n];
        assert_eq!(dequantize(ty, &bytes, &mut out), Err(QuantError::Unsupported(ty)));
        assert_eq!(dequantize_to_vec(ty, &bytes, n), Err(QuantError::Unsupported(ty)));
        assert_eq!(quantize(ty, &out), Err(QuantError::Unsupported(ty)));
        assert!(QuantError::Unsupported(ty).to_string().contains(ty.name()));
    }
}

#[test]
fn wrong_sizes_are_errors() {
    let bytes = vec![0u8; 18];
    let mut out = vec![0.0f32; 32];
    let err = dequantize(GgmlType::Q4_0, &bytes[..17], &mut out).unwrap_err();
    let want = QuantError::ByteLength { ty: GgmlType::Q4_0, n: 32, expected: 18, actual: 17 };
    assert_eq!(err, want);
    let msg = err.to_string();
    assert!(msg.contains("Q4_0") && msg.contains("18") && msg.contains("17"), "{msg}");
    // Too many bytes is as wrong as too few.
    let err = dequantize(GgmlType::Q4_0, &[bytes.clone(), bytes.clone()].concat(), &mut out);
    assert!(matches!(err, Err(QuantError::ByteLength { expected: 18, actual: 36, .. })));

    // Element counts that are not whole blocks.
    let mut out = vec![0.0f32; 100];
    let err = dequantize(GgmlType::Q4_K, &[0u8; 144], &mut out).unwrap_err();
    assert_eq!(err, QuantError::NotWholeBlocks { ty: GgmlType::Q4_K, n: 100, block_size: 256 });
    assert!(err.to_string().contains("Q4_K") && err.to_string().contains("256"));
    assert!(matches!(quantize(GgmlType::Q6_K, &[0.0; 300]), Err(QuantError::NotWholeBlocks { .. })));
    assert!(matches!(quantize(GgmlType::Q8_0, &[0.0; 33]), Err(QuantError::NotWholeBlocks { .. })));

    // Absurd lengths fail before anything is allocated.
    let err = dequantize_to_vec(GgmlType::F32, &[], usize::MAX).unwrap_err();
    assert_eq!(err, QuantError::TooLarge { ty: GgmlType::F32, n: usize::MAX });
    let huge = usize::MAX / 64 * 32;
    assert!(matches!(dequantize_to_vec(GgmlType::Q4_0, &bytes, huge), Err(QuantError::ByteLength { .. })));

    // Zero elements is a valid (empty) request.
    assert_eq!(quantize(GgmlType::Q4_K, &[]), Ok(vec![]));
    assert_eq!(dequantize_to_vec(GgmlType::Q4_K, &[], 0), Ok(vec![]));
}

/// Arbitrary bytes decode without panicking, and non-finite input quantizes without
/// panicking into blocks of the right size.
#[test]
fn garbage_never_panics() {
    let mut rng = Rng::new(6);
    for ty in SUPPORTED {
        let n = ty.block_size() * 4;
        let bytes: Vec<u8> = (0..ty.bytes_for(n as u64).unwrap()).map(|_| rng.next_u64() as u8).collect();
        dequantize_to_vec(ty, &bytes, n).unwrap();
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, f32::MIN_POSITIVE, 0.0];
        let x: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { specials[i % 7] } else { rng.gauss() }).collect();
        let q = quantize(ty, &x).unwrap();
        assert_eq!(q.len() as u64, ty.bytes_for(n as u64).unwrap());
        dequantize_to_vec(ty, &q, n).unwrap();
    }
}
