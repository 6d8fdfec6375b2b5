// Q4_0 dot units: one block (32 elements) per unit, its 16 body bytes in one vec4 load.
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"

const UNIT: u32 = 32u;

struct XUnit {
    v: array<vec4<f32>, 8>, // the unit's 32 elements of x
}

fn x_unit(xu: u32) -> XUnit {
    return XUnit(array<vec4<f32>, 8>(
        x[xu], x[xu + 1u], x[xu + 2u], x[xu + 3u], x[xu + 4u], x[xu + 5u], x[xu + 6u], x[xu + 7u],
    ));
}

// Body word k of a block against its x: byte i holds element 4k + i (low nibble) and
// 16 + 4k + i (high nibble). The unit's four words are spelled out, not looped over: naga
// bounds every loop with a counter, which keeps drivers from unrolling it, and the vector
// and array indices must be constants to stay in registers.
fn q4_0_word(v: u32, lo: vec4<f32>, hi: vec4<f32>) -> vec4<f32> {
    return nibbles_lo_less(v, 8.0) * lo + nibbles_hi_less(v, 8.0) * hi;
}

// Block words `q` dotted with an x unit, before the scale.
fn q4_0_dot(q: vec4<u32>, xv: XUnit) -> f32 {
    return hsum(q4_0_word(q.x, xv.v[0], xv.v[4]) + q4_0_word(q.y, xv.v[1], xv.v[5])
        + q4_0_word(q.z, xv.v[2], xv.v[6]) + q4_0_word(q.w, xv.v[3], xv.v[7]));
}

fn unit_dot(blk: u32, xv: XUnit) -> f32 {
    return q4_0_dot(w_vec4(blk), xv) * block_scale(blk);
}

// Runs of units for common/dot_loop_chunked.wgsl: 8 blocks, whose f16 scales are one
// 16-byte word of the scale region (the region starts at a multiple of 4 words: it follows
// whole 16-byte block bodies; a run starts at a multiple of 8 blocks).
const RUN_UNITS: u32 = 8u;

fn run_head(first: u32) -> vec4<u32> {
    return w_vec4((params.scale_base + (first >> 1u)) >> 2u);
}

// Unit `blk`, number j of its run, whose run_head is `head`.
fn run_unit_dot(blk: u32, j: u32, head: vec4<u32>, xv: XUnit) -> f32 {
    let d = unpack2x16float(head[j >> 1u]);
    return q4_0_dot(w_vec4(blk), xv) * select(d.x, d.y, (j & 1u) != 0u);
}

// The same unit dotted with 4 vectors (batch_matvec): the weights are loaded once.
fn unit_dot4(blk: u32, xu: vec4<u32>) -> vec4<f32> {
    let q = w_vec4(blk);
    let dots = vec4<f32>(
        q4_0_dot(q, x_unit(xu.x)), q4_0_dot(q, x_unit(xu.y)), q4_0_dot(q, x_unit(xu.z)), q4_0_dot(q, x_unit(xu.w)),
    );
    return dots * block_scale(blk);
}
