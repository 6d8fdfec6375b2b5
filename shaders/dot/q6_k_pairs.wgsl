// Q6_K dot units for GPUs: a pair of quarters (64 elements) per unit, twice the units of
// dot/q6_k.wgsl's halves, so that a 64-thread workgroup has work for 32 threads on a row of
// 2048 rather than 16 (the tied LM head of LFM2.5-8B-A1B is Q6_K: 12 % of an H200's time a
// token with half blocks). Quarters k and k + 2 of a half share their ql bytes (low and high
// nibbles), so unit u takes quarters p and p + 2 (p = u & 1) of half (u >> 1) & 1 of block
// u >> 2: elements 32p .. 32p + 32 and 64 + 32p .. 96 + 32p of the half. The half's qh words
// and scale word are read by both of its units (a cache hit for the second). CPU adapters,
// where each load costs, keep the half blocks (`ShaderTarget::q6_k_pairs`).
// (Interface: dot/generic.wgsl. Block layout: dot/q6_k.wgsl.)

#include "common/weights_wide.wgsl"

const UNIT: u32 = 64u;

#include "common/q6_k_words.wgsl"

// One unit's words: its ql pair, the half's two qh vec4s, the half's 8 scale bytes, and d.
struct Q6kPair {
    ql0: vec4<u32>,
    ql1: vec4<u32>,
    qh0: vec4<u32>,
    qh1: vec4<u32>,
    sc: vec2<u32>,
    d: f32,
}

fn q6k_pair(unit: u32) -> Q6kPair {
    let blk = unit >> 2u;
    let n = (unit >> 1u) & 1u;
    let base = blk * 13u;
    let ql = base + 4u * n + 2u * (unit & 1u);
    let scw = w_vec4(base + 12u);
    return Q6kPair(
        w_vec4(ql), w_vec4(ql + 1u), w_vec4(base + 8u + 2u * n), w_vec4(base + 9u + 2u * n), select(scw.xy, scw.zw, n == 1u),
        block_scale(blk),
    );
}

// Unit `p`'s 64 elements dotted with x, its first quarter's x at `xu` (the second's 16 vec4s
// on), before d.
fn q6_pair_dot(w: Q6kPair, p: u32, xu: u32) -> f32 {
    let lo = q6_quarter(w.ql0, w.ql1, w.qh0, w.qh1, 0u, 2u * p, xu);
    let hi = q6_quarter(w.ql0, w.ql1, w.qh0, w.qh1, 4u, 2u * p + 4u, xu + 16u);
    return q6_scale(w.sc, 2u * p) * lo.x + q6_scale(w.sc, 2u * p + 1u) * lo.y
        + q6_scale(w.sc, 2u * p + 4u) * hi.x + q6_scale(w.sc, 2u * p + 5u) * hi.y;
}

// The loops pass unit u's x at u * 16 vec4s; its first quarter starts 8 * p vec4s before that
// (the half starts at (u >> 1) * 32).
struct XUnit {
    at: u32, // x offset of the unit
}

fn x_unit(xu: u32) -> XUnit {
    return XUnit(xu);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    let p = unit & 1u;
    let w = q6k_pair(unit);
    return w.d * q6_pair_dot(w, p, xv.at - 8u * p);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let p = unit & 1u;
    let w = q6k_pair(unit);
    let at = xu - vec4<u32>(8u * p);
    return w.d * vec4<f32>(q6_pair_dot(w, p, at.x), q6_pair_dot(w, p, at.y), q6_pair_dot(w, p, at.z), q6_pair_dot(w, p, at.w));
}
