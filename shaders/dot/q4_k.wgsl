// Q4_K dot units: a quarter block (64 elements: sub-blocks 2c and 2c + 1, whose 32 qs bytes
// hold the first 32 in the low nibbles and the next 32 in the high ones) per unit. A block is
// 9 vec4 words: (d, dmin) + 3 scale words, then 8 of qs.
// dot = d sc_lo (q_lo . x_lo) - dmin m_lo sum(x_lo) + the same for the high half.
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"
#include "common/f16_pair.wgsl"

const UNIT: u32 = 64u;

// One unit's qs words and the coefficients of (q_lo . x, q_hi . x, sum x_lo, sum x_hi).
struct Q4kUnit {
    coef: vec4<f32>,
    q0: vec4<u32>,
    q1: vec4<u32>,
}

fn q4k_unit(unit: u32) -> Q4kUnit {
    return q4k_unit_of(unit, w_vec4((unit >> 2u) * 9u));
}

// Unit `unit` of the block whose first 16 bytes are `head`: (d, dmin) and the scale words.
fn q4k_unit_of(unit: u32, head: vec4<u32>) -> Q4kUnit {
    let base = (unit >> 2u) * 9u;
    let c = unit & 3u;
    // Binding 1 must be used by every helper (layouts come from the shader): `w_keep` costs no
    // load, where reading d and dmin through `w_word` cost one a unit (lavapipe Q4_K matvec
    // 2.45 -> 2.69 GB/s without).
    w_keep();
    let dm = f16_pair(head.x);
    let sm_lo = kscale_min_of(head.yzw, 2u * c);
    let sm_hi = kscale_min_of(head.yzw, 2u * c + 1u);
    let coef = vec4<f32>(dm.x * sm_lo.x, dm.x * sm_hi.x, -dm.y * sm_lo.y, -dm.y * sm_hi.y);
    return Q4kUnit(coef, w_vec4(base + 1u + 2u * c), w_vec4(base + 2u + 2u * c));
}

// A unit's 64 elements of x (the low nibbles' 32, then the high nibbles') and the sum of
// each half, loaded once for ROWS rows. Words and vectors are spelled out rather than looped
// over: see dot/q4_0.wgsl.
struct XUnit {
    v: array<vec4<f32>, 16>,
    sums: vec2<f32>,
}

fn x_unit(xu: u32) -> XUnit {
    let v = array<vec4<f32>, 16>(
        x[xu], x[xu + 1u], x[xu + 2u], x[xu + 3u], x[xu + 4u], x[xu + 5u], x[xu + 6u], x[xu + 7u],
        x[xu + 8u], x[xu + 9u], x[xu + 10u], x[xu + 11u], x[xu + 12u], x[xu + 13u], x[xu + 14u], x[xu + 15u],
    );
    let lo = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    let hi = v[8] + v[9] + v[10] + v[11] + v[12] + v[13] + v[14] + v[15];
    return XUnit(v, vec2<f32>(hsum(lo), hsum(hi)));
}

// (q_lo . x_lo, q_hi . x_hi, sum x_lo, sum x_hi) of one unit's qs (q0, q1) and one x unit.
fn q4k_sums(q0: vec4<u32>, q1: vec4<u32>, xv: XUnit) -> vec4<f32> {
    let v = xv.v;
    let lo = nibbles_lo(q0.x) * v[0] + nibbles_lo(q0.y) * v[1] + nibbles_lo(q0.z) * v[2] + nibbles_lo(q0.w) * v[3]
        + nibbles_lo(q1.x) * v[4] + nibbles_lo(q1.y) * v[5] + nibbles_lo(q1.z) * v[6] + nibbles_lo(q1.w) * v[7];
    let hi = nibbles_hi(q0.x) * v[8] + nibbles_hi(q0.y) * v[9] + nibbles_hi(q0.z) * v[10] + nibbles_hi(q0.w) * v[11]
        + nibbles_hi(q1.x) * v[12] + nibbles_hi(q1.y) * v[13] + nibbles_hi(q1.z) * v[14] + nibbles_hi(q1.w) * v[15];
    return vec4<f32>(hsum(lo), hsum(hi), xv.sums);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    let u = q4k_unit(unit);
    return dot(u.coef, q4k_sums(u.q0, u.q1, xv));
}

// Runs of units for common/dot_loop_chunked.wgsl: a block's 4 units share its head.
const RUN_UNITS: u32 = 4u;

fn run_head(first: u32) -> vec4<u32> {
    return w_vec4((first >> 2u) * 9u);
}

fn run_unit_dot(unit: u32, j: u32, head: vec4<u32>, xv: XUnit) -> f32 {
    let u = q4k_unit_of(unit, head);
    return dot(u.coef, q4k_sums(u.q0, u.q1, xv));
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
// (Explicit per-vector calls: a loop over vectors indexing vec4 lanes runs slowly on llvmpipe.)
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let u = q4k_unit(unit);
    return vec4<f32>(
        dot(u.coef, q4k_sums(u.q0, u.q1, x_unit(xu.x))),
        dot(u.coef, q4k_sums(u.q0, u.q1, x_unit(xu.y))),
        dot(u.coef, q4k_sums(u.q0, u.q1, x_unit(xu.z))),
        dot(u.coef, q4k_sums(u.q0, u.q1, x_unit(xu.w))),
    );
}
