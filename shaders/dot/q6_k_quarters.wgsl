// Q6_K dot units for GPUs: one quarter of a half block (32 elements) per unit, four times the
// units of dot/q6_k.wgsl's halves, so that every thread of a 64-thread workgroup has a unit on
// a row of 2048 (halves: 16 of them), with a short chain each. Unit u is quarter
// k = u & 3 of half (u >> 2) & 1 of block u >> 3: the low (k < 2) or high nibbles of the
// half's ql bytes 32 (k & 1) .. + 32 and bits 2k, 2k + 1 of its 32 qh bytes; scales 2k and
// 2k + 1 of the half cover its two 16-element halves. The half's qh and scale words are read
// by all four of its units (cache hits after the first). CPU adapters keep the half blocks
// (`ShaderTarget::q6_k_quarters`).
// (Interface: dot/generic.wgsl. Block layout: dot/q6_k.wgsl.)

#include "common/weights_wide.wgsl"

const UNIT: u32 = 32u;

#include "common/q6_k_words.wgsl"

// The loops pass unit u's x at u * 8 vec4s: its 32 elements, read where used.
struct XUnit {
    at: u32, // x offset of the unit
}

fn x_unit(xu: u32) -> XUnit {
    return XUnit(xu);
}

// One unit's words: its two ql vec4s, and the half's qh, scales and d.
struct Q6kQuarter {
    ql0: vec4<u32>,
    ql1: vec4<u32>,
    w: Q6kHalfWords,
}

fn q6k_quarter_words(unit: u32) -> Q6kQuarter {
    let blk = unit >> 3u;
    let n = (unit >> 2u) & 1u;
    let ql = blk * 13u + 4u * n + 2u * (unit & 1u);
    return Q6kQuarter(w_vec4(ql), w_vec4(ql + 1u), q6k_half_words(blk, n));
}

// Quarter k's 32 elements (words `q`) dotted with x[xu .. xu + 8], with its scales and d.
fn q6_quarter_dot(q: Q6kQuarter, k: u32, xu: u32) -> f32 {
    let h = q.w;
    let s = q6_quarter(q.ql0, q.ql1, h.qh0, h.qh1, 4u * (k >> 1u), 2u * k, xu);
    return h.d * (q6_scale(h.sc, 2u * k) * s.x + q6_scale(h.sc, 2u * k + 1u) * s.y);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    return q6_quarter_dot(q6k_quarter_words(unit), unit & 3u, xv.at);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let w = q6k_quarter_words(unit);
    let k = unit & 3u;
    return vec4<f32>(q6_quarter_dot(w, k, xu.x), q6_quarter_dot(w, k, xu.y), q6_quarter_dot(w, k, xu.z), q6_quarter_dot(w, k, xu.w));
}
