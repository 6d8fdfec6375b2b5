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

// One unit's words: its two ql vec4s, the half's two qh vec4s, the half's 8 scale bytes, and d.
struct Q6kQuarter {
    ql0: vec4<u32>,
    ql1: vec4<u32>,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
    sc: vec2<u32>,
    d: f32,
}

fn q6k_quarter_words(unit: u32) -> Q6kQuarter {
    let blk = unit >> 3u;
    let n = (unit >> 2u) & 1u;
    let base = blk * 13u;
    let ql = base + 4u * n + 2u * (unit & 1u);
    let scw = w_vec4(base + 12u);
    return Q6kQuarter(
        w_vec4(ql), w_vec4(ql + 1u), w_vec4(base + 8u + 2u * n), w_vec4(base + 9u + 2u * n), select(scw.xy, scw.zw, n == 1u),
        block_scale(blk),
    );
}

// Quarter k's 32 elements (words `w`) dotted with x[xu .. xu + 8], with its scales and d.
fn q6_quarter_dot(w: Q6kQuarter, k: u32, xu: u32) -> f32 {
    let s = q6_quarter(w.ql0, w.ql1, w.qh0, w.qh1, 4u * (k >> 1u), 2u * k, xu);
    return w.d * (q6_scale(w.sc, 2u * k) * s.x + q6_scale(w.sc, 2u * k + 1u) * s.y);
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
