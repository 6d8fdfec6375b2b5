// Q5_K dot units of one sub-block (32 elements) per unit, as dot/q4_k_subblocks.wgsl does for
// Q4_K: sub-block sb's low 4 bits are the low (even sb) or high (odd sb) nibbles of the qs
// words of its pair of sub-blocks, its 5th bits are bit sb of the 32 qh bytes. A block is 11
// vec4 words: (d, dmin) + 3 scale words, 2 of qh, then 8 of qs.
// dot = d sc (q . x) - dmin m sum(x).
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"
#include "common/f16_pair.wgsl"

#include "common/x_unit_sum32.wgsl"

// The 4 values (0..31) of qs word `q` and qh word `h` for sub-block `sb`.
fn q5k_word(q: u32, h: u32, sb: u32) -> vec4<f32> {
    return bytes_u(((q >> (4u * (sb & 1u))) & 0x0f0f0f0fu) | (((h >> sb) & 0x01010101u) << 4u));
}

// One unit's words: its block's head of (d, dmin) and scales, the qh words, and the qs
// words of its pair of sub-blocks.
struct Q5kUnit {
    head: vec4<u32>,
    h0: vec4<u32>,
    h1: vec4<u32>,
    q0: vec4<u32>,
    q1: vec4<u32>,
}

fn q5k_unit(unit: u32) -> Q5kUnit {
    // Binding 1 must be used by every helper (see dot/q4_k.wgsl): `w_keep` costs no load.
    w_keep();
    let base = (unit >> 3u) * 11u;
    let qs = base + 3u + 2u * ((unit >> 1u) & 3u);
    return Q5kUnit(w_vec4(base), w_vec4(base + 1u), w_vec4(base + 2u), w_vec4(qs), w_vec4(qs + 1u));
}

// Sub-block `sb` (0..8) of a block, whose words are `u`, dotted with x.
fn q5k_dot(u: Q5kUnit, sb: u32, xv: XUnit) -> f32 {
    let dm = f16_pair(u.head.x);
    let sm = kscale_min_of(u.head.yzw, sb);
    let v = xv.v;
    let q = q5k_word(u.q0.x, u.h0.x, sb) * v[0] + q5k_word(u.q0.y, u.h0.y, sb) * v[1]
        + q5k_word(u.q0.z, u.h0.z, sb) * v[2] + q5k_word(u.q0.w, u.h0.w, sb) * v[3]
        + q5k_word(u.q1.x, u.h1.x, sb) * v[4] + q5k_word(u.q1.y, u.h1.y, sb) * v[5]
        + q5k_word(u.q1.z, u.h1.z, sb) * v[6] + q5k_word(u.q1.w, u.h1.w, sb) * v[7];
    return dm.x * sm.x * hsum(q) - dm.y * sm.y * xv.sum;
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    return q5k_dot(q5k_unit(unit), unit & 7u, xv);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let u = q5k_unit(unit);
    let sb = unit & 7u;
    return vec4<f32>(
        q5k_dot(u, sb, x_unit(xu.x)), q5k_dot(u, sb, x_unit(xu.y)), q5k_dot(u, sb, x_unit(xu.z)), q5k_dot(u, sb, x_unit(xu.w)),
    );
}
