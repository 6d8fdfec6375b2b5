// Q8_0 dot units: one block (32 elements) per unit, its 32 body bytes in two vec4 loads.
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

// Block words (q0, q1) dotted with an x unit, before the scale. Words spelled out rather
// than looped over: see dot/q4_0.wgsl.
fn q8_0_dot(q0: vec4<u32>, q1: vec4<u32>, xv: XUnit) -> f32 {
    return hsum(bytes_i(q0.x) * xv.v[0] + bytes_i(q0.y) * xv.v[1] + bytes_i(q0.z) * xv.v[2] + bytes_i(q0.w) * xv.v[3]
        + bytes_i(q1.x) * xv.v[4] + bytes_i(q1.y) * xv.v[5] + bytes_i(q1.z) * xv.v[6] + bytes_i(q1.w) * xv.v[7]);
}

fn unit_dot(blk: u32, xv: XUnit) -> f32 {
    return q8_0_dot(w_vec4(2u * blk), w_vec4(2u * blk + 1u), xv) * block_scale(blk);
}

// The same unit dotted with 4 vectors (batch_matvec): the weights are loaded once.
fn unit_dot4(blk: u32, xu: vec4<u32>) -> vec4<f32> {
    let q0 = w_vec4(2u * blk);
    let q1 = w_vec4(2u * blk + 1u);
    let dots = vec4<f32>(
        q8_0_dot(q0, q1, x_unit(xu.x)), q8_0_dot(q0, q1, x_unit(xu.y)),
        q8_0_dot(q0, q1, x_unit(xu.z)), q8_0_dot(q0, q1, x_unit(xu.w)),
    );
    return dots * block_scale(blk);
}
