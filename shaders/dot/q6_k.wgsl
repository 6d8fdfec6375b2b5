// Q6_K dot units: a half block (128 elements) per unit. A repacked block body is 13 vec4
// words: ql (8), qh (4), the 16 signed 8-bit sub-block scales (1); d sits in the scale region.
// Half n uses ql vec4s 4n..4n+3, qh vec4s 8 + 2n, 9 + 2n and scale bytes 8n..8n+7; its quarter
// k (32 elements) takes the low (k < 2) or high nibbles of ql bytes 32(k & 1) .. + 32 and bits
// 2k, 2k + 1 of the 32 qh bytes; scale 2k covers its first 16 elements, 2k + 1 the rest.
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"

const UNIT: u32 = 128u;

#include "common/q6_k_words.wgsl"

// One unit's words: ql of the half, its two qh vec4s, its 8 scale bytes, and d.
struct Q6kHalf {
    ql0: vec4<u32>, // ql bytes 0..32 of the half: quarters 0 (low nibbles) and 2 (high)
    ql1: vec4<u32>,
    ql2: vec4<u32>, // ql bytes 32..64: quarters 1 and 3
    ql3: vec4<u32>,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
    sc: vec2<u32>,
    d: f32,
}

fn q6k_half(unit: u32) -> Q6kHalf {
    let blk = unit >> 1u;
    let n = unit & 1u;
    let base = blk * 13u;
    let ql = base + 4u * n;
    let scw = w_vec4(base + 12u);
    return Q6kHalf(
        w_vec4(ql), w_vec4(ql + 1u), w_vec4(ql + 2u), w_vec4(ql + 3u),
        w_vec4(base + 8u + 2u * n), w_vec4(base + 9u + 2u * n), select(scw.xy, scw.zw, n == 1u), block_scale(blk),
    );
}

// A half's 128 elements dotted with x[xu .. xu + 32], before d.
fn q6_half_dot(h: Q6kHalf, xu: u32) -> f32 {
    let p0 = q6_quarter(h.ql0, h.ql1, h.qh0, h.qh1, 0u, 0u, xu);
    let p1 = q6_quarter(h.ql2, h.ql3, h.qh0, h.qh1, 0u, 2u, xu + 8u);
    let p2 = q6_quarter(h.ql0, h.ql1, h.qh0, h.qh1, 4u, 4u, xu + 16u);
    let p3 = q6_quarter(h.ql2, h.ql3, h.qh0, h.qh1, 4u, 6u, xu + 24u);
    let sc = h.sc;
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
    return h.d * q6_half_dot(h, xv.at);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
// (Explicit per-vector calls: a loop over vectors indexing vec4 lanes runs slowly on llvmpipe.)
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let h = q6k_half(unit);
    return h.d * vec4<f32>(q6_half_dot(h, xu.x), q6_half_dot(h, xu.y), q6_half_dot(h, xu.z), q6_half_dot(h, xu.w));
}
