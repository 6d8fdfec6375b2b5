// Q8_0 dot units: one block (32 elements) per unit, its 32 body bytes in two vec4 loads.
// (Interface: dot/generic.wgsl. `w4` is the same buffer as `w`, bound again by the host.)

@group(0) @binding(8) var<storage, read> w4: array<vec4<u32>>; // the part, 16 bytes an element

const UNIT: u32 = 32u;

fn unit_dot(blk: u32, xu: u32) -> f32 {
    let q0 = w4[2u * blk];
    let q1 = w4[2u * blk + 1u];
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        s += bytes_i(q0[k]) * x[xu + k] + bytes_i(q1[k]) * x[xu + 4u + k];
    }
    return (s.x + s.y + s.z + s.w) * block_scale(blk);
}

// The same unit dotted with 4 vectors (batch_matvec): the weights are decoded once.
fn unit_dot4(blk: u32, xu: vec4<u32>) -> vec4<f32> {
    let q0 = w4[2u * blk];
    let q1 = w4[2u * blk + 1u];
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        let a = bytes_i(q0[k]);
        let b = bytes_i(q1[k]);
        s0 += a * x[xu.x + k] + b * x[xu.x + 4u + k];
        s1 += a * x[xu.y + k] + b * x[xu.y + 4u + k];
        s2 += a * x[xu.z + k] + b * x[xu.z + 4u + k];
        s3 += a * x[xu.w + k] + b * x[xu.w + 4u + k];
    }
    return hsum4(s0, s1, s2, s3) * block_scale(blk);
}
