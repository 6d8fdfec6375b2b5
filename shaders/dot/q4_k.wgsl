// Q4_K dot units: a quarter block (64 elements: sub-blocks 2c and 2c + 1, whose 32 qs bytes
// hold the first 32 in the low nibbles and the next 32 in the high ones) per unit. A block is
// 9 vec4 words: (d, dmin) + 3 scale words, then 8 of qs.
// dot = d sc_lo (q_lo . x_lo) - dmin m_lo sum(x_lo) + the same for the high half.
// (Interface: dot/generic.wgsl. `w4` is the same buffer as `w`, bound again by the host.)

@group(0) @binding(8) var<storage, read> w4: array<vec4<u32>>; // the part, 16 bytes an element

const UNIT: u32 = 64u;

// One unit's qs words and the coefficients of (q_lo . x, q_hi . x, sum x_lo, sum x_hi).
struct Q4kUnit {
    coef: vec4<f32>,
    q0: vec4<u32>,
    q1: vec4<u32>,
}

fn q4k_unit(unit: u32) -> Q4kUnit {
    let base = (unit >> 2u) * 9u;
    let c = unit & 3u;
    let head = w4[base];
    // d and dmin through `w`, which every helper must read (layouts come from the shader).
    let dm = unpack2x16float(w[4u * base]);
    let sm_lo = kscale_min_of(head.yzw, 2u * c);
    let sm_hi = kscale_min_of(head.yzw, 2u * c + 1u);
    let coef = vec4<f32>(dm.x * sm_lo.x, dm.x * sm_hi.x, -dm.y * sm_lo.y, -dm.y * sm_hi.y);
    return Q4kUnit(coef, w4[base + 1u + 2u * c], w4[base + 2u + 2u * c]);
}

// (q_lo . x_lo, q_hi . x_hi, sum x_lo, sum x_hi) of one unit's qs (q0, q1) and one vector.
fn q4k_sums(q0: vec4<u32>, q1: vec4<u32>, xu: u32) -> vec4<f32> {
    var lo = vec4<f32>(0.0);
    var hi = vec4<f32>(0.0);
    var x_lo = vec4<f32>(0.0);
    var x_hi = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        let xa = x[xu + k];
        let xb = x[xu + 4u + k];
        let xc = x[xu + 8u + k];
        let xd = x[xu + 12u + k];
        lo += nibbles_lo(q0[k]) * xa + nibbles_lo(q1[k]) * xb;
        hi += nibbles_hi(q0[k]) * xc + nibbles_hi(q1[k]) * xd;
        x_lo += xa + xb;
        x_hi += xc + xd;
    }
    return hsum4(lo, hi, x_lo, x_hi);
}

fn unit_dot(unit: u32, xu: u32) -> f32 {
    let u = q4k_unit(unit);
    return dot(u.coef, q4k_sums(u.q0, u.q1, xu));
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
// (Explicit per-vector calls: a loop over vectors indexing vec4 lanes runs slowly on llvmpipe.)
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let u = q4k_unit(unit);
    return vec4<f32>(
        dot(u.coef, q4k_sums(u.q0, u.q1, xu.x)),
        dot(u.coef, q4k_sums(u.q0, u.q1, xu.y)),
        dot(u.coef, q4k_sums(u.q0, u.q1, xu.z)),
        dot(u.coef, q4k_sums(u.q0, u.q1, xu.w)),
    );
}
