// Q4_0 dot units: one block (32 elements) per unit, its 16 body bytes in one vec4 load.
// (Interface: dot/generic.wgsl. `w4` is the same buffer as `w`, bound again by the host.)

@group(0) @binding(8) var<storage, read> w4: array<vec4<u32>>; // the part, 16 bytes an element

const UNIT: u32 = 32u;

fn unit_dot(blk: u32, xu: u32) -> f32 {
    let q = w4[blk];
    var s = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        // Byte i holds element i (low nibble) and i + 16 (high nibble).
        s += (nibbles_lo(q[k]) - 8.0) * x[xu + k] + (nibbles_hi(q[k]) - 8.0) * x[xu + 4u + k];
    }
    return (s.x + s.y + s.z + s.w) * block_scale(blk);
}

// The same unit dotted with 4 vectors (batch_matvec): the weights are decoded once.
fn unit_dot4(blk: u32, xu: vec4<u32>) -> vec4<f32> {
    let q = w4[blk];
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        let lo = nibbles_lo(q[k]) - 8.0;
        let hi = nibbles_hi(q[k]) - 8.0;
        s0 += lo * x[xu.x + k] + hi * x[xu.x + 4u + k];
        s1 += lo * x[xu.y + k] + hi * x[xu.y + 4u + k];
        s2 += lo * x[xu.z + k] + hi * x[xu.z + 4u + k];
        s3 += lo * x[xu.w + k] + hi * x[xu.w + 4u + k];
    }
    return hsum4(s0, s1, s2, s3) * block_scale(blk);
}
