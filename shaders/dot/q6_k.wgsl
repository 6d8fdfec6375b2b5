// Q6_K dot units: a half block (128 elements) per unit. A repacked block body is 13 vec4
// words: ql (8), qh (4), the 16 signed 8-bit sub-block scales (1); d sits in the scale region.
// Half n uses ql vec4s 4n..4n+3, qh vec4s 8 + 2n, 9 + 2n and scale bytes 8n..8n+7; its quarter
// k (32 elements) takes the low (k < 2) or high nibbles of ql bytes 32(k & 1) .. + 32 and bits
// 2k, 2k + 1 of the 32 qh bytes; scale 2k covers its first 16 elements, 2k + 1 the rest.
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"

const UNIT: u32 = 128u;

#include "common/q6_k_words.wgsl"

// One unit's words: ql of the half, and the half's qh, scales and d.
struct Q6kHalf {
    ql0: vec4<u32>, // ql bytes 0..32 of the half: quarters 0 (low nibbles) and 2 (high)
    ql1: vec4<u32>,
    ql2: vec4<u32>, // ql bytes 32..64: quarters 1 and 3
    ql3: vec4<u32>,
    w: Q6kHalfWords,
}

fn q6k_half(unit: u32) -> Q6kHalf {
    let ql = (unit >> 1u) * 13u + 4u * (unit & 1u);
    return Q6kHalf(w_vec4(ql), w_vec4(ql + 1u), w_vec4(ql + 2u), w_vec4(ql + 3u), q6k_half_words(unit >> 1u, unit & 1u));
}

// A half's 128 elements dotted with x[xu .. xu + 32], before d.
fn q6_half_dot(h: Q6kHalf, xu: u32) -> f32 {
    let qh0 = h.w.qh0;
    let qh1 = h.w.qh1;
    let p0 = q6_quarter(h.ql0, h.ql1, qh0, qh1, 0u, 0u, xu);
    let p1 = q6_quarter(h.ql2, h.ql3, qh0, qh1, 0u, 2u, xu + 8u);
    let p2 = q6_quarter(h.ql0, h.ql1, qh0, qh1, 4u, 4u, xu + 16u);
    let p3 = q6_quarter(h.ql2, h.ql3, qh0, qh1, 4u, 6u, xu + 24u);
    let sc = h.w.sc;
    return q6_scale(sc, 0u) * p0.x + q6_scale(sc, 1u) * p0.y + q6_scale(sc, 2u) * p1.x + q6_scale(sc, 3u) * p1.y
        + q6_scale(sc, 4u) * p2.x + q6_scale(sc, 5u) * p2.y + q6_scale(sc, 6u) * p3.x + q6_scale(sc, 7u) * p3.y;
}

// A unit's 128 elements are too many to hold: x is read where it is used.
struct XUnit {
    at: u32, // x offset of the unit
}

fn x_unit(xu: u32) -> XUnit {
    return XUnit(xu);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    let h = q6k_half(unit);
    return h.w.d * q6_half_dot(h, xv.at);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
// (Explicit per-vector calls: a loop over vectors indexing vec4 lanes runs slowly on llvmpipe.)
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let h = q6k_half(unit);
    return h.w.d * vec4<f32>(q6_half_dot(h, xu.x), q6_half_dot(h, xu.y), q6_half_dot(h, xu.z), q6_half_dot(h, xu.w));
}
