// Q6_K dot units: a half block (128 elements) per unit. A repacked block body is 13 vec4
// words: ql (8), qh (4), the 16 signed 8-bit sub-block scales (1); d sits in the scale region.
// Half n uses ql vec4s 4n..4n+3, qh vec4s 8 + 2n, 9 + 2n and scale bytes 8n..8n+7; its quarter
// k (32 elements) takes the low (k < 2) or high nibbles of ql bytes 32(k & 1) .. + 32 and bits
// 2k, 2k + 1 of the 32 qh bytes; scale 2k covers its first 16 elements, 2k + 1 the rest.
// (Interface: dot/generic.wgsl. `w4` is the same buffer as `w`, bound again by the host.)

@group(0) @binding(8) var<storage, read> w4: array<vec4<u32>>; // the part, 16 bytes an element

const UNIT: u32 = 128u;

// The 32 elements of one quarter dotted with x[xu .. xu + 8], as the two 16-element sums.
fn q6_quarter(ql0: vec4<u32>, ql1: vec4<u32>, qh0: vec4<u32>, qh1: vec4<u32>, lo_shift: u32, hi_shift: u32, xu: u32) -> vec2<f32> {
    var a = vec4<f32>(0.0);
    var b = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        let qa = ((ql0[i] >> lo_shift) & 0x0f0f0f0fu) | (((qh0[i] >> hi_shift) & 0x03030303u) << 4u);
        let qb = ((ql1[i] >> lo_shift) & 0x0f0f0f0fu) | (((qh1[i] >> hi_shift) & 0x03030303u) << 4u);
        a += (bytes_u(qa) - 32.0) * x[xu + i];
        b += (bytes_u(qb) - 32.0) * x[xu + 4u + i];
    }
    return vec2<f32>(a.x + a.y + a.z + a.w, b.x + b.y + b.z + b.w);
}

// Signed scale byte `i` (0..8) of a half, from its two scale words.
fn q6_scale(s: vec2<u32>, i: u32) -> f32 {
    return f32((bitcast<i32>(s[i >> 2u]) << (24u - 8u * (i & 3u))) >> 24u);
}

// A half's 128 elements (its words already loaded) dotted with x[xu .. xu + 32], before d.
fn q6_half_dot(ql: array<vec4<u32>, 4>, qh0: vec4<u32>, qh1: vec4<u32>, sc: vec2<u32>, xu: u32) -> f32 {
    let p0 = q6_quarter(ql[0], ql[1], qh0, qh1, 0u, 0u, xu);
    let p1 = q6_quarter(ql[2], ql[3], qh0, qh1, 0u, 2u, xu + 8u);
    let p2 = q6_quarter(ql[0], ql[1], qh0, qh1, 4u, 4u, xu + 16u);
    let p3 = q6_quarter(ql[2], ql[3], qh0, qh1, 4u, 6u, xu + 24u);
    return q6_scale(sc, 0u) * p0.x + q6_scale(sc, 1u) * p0.y + q6_scale(sc, 2u) * p1.x + q6_scale(sc, 3u) * p1.y
        + q6_scale(sc, 4u) * p2.x + q6_scale(sc, 5u) * p2.y + q6_scale(sc, 6u) * p3.x + q6_scale(sc, 7u) * p3.y;
}

fn unit_dot(unit: u32, xu: u32) -> f32 {
    let blk = unit >> 1u;
    let n = unit & 1u;
    let base = blk * 13u;
    let ql = array<vec4<u32>, 4>(w4[base + 4u * n], w4[base + 4u * n + 1u], w4[base + 4u * n + 2u], w4[base + 4u * n + 3u]);
    let qh0 = w4[base + 8u + 2u * n];
    let qh1 = w4[base + 9u + 2u * n];
    let scw = w4[base + 12u];
    let sc = select(scw.xy, scw.zw, n == 1u);
    return block_scale(blk) * q6_half_dot(ql, qh0, qh1, sc, xu);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
// (Explicit per-vector calls: a loop over vectors indexing vec4 lanes runs slowly on llvmpipe.)
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let blk = unit >> 1u;
    let n = unit & 1u;
    let base = blk * 13u;
    let ql = array<vec4<u32>, 4>(w4[base + 4u * n], w4[base + 4u * n + 1u], w4[base + 4u * n + 2u], w4[base + 4u * n + 3u]);
    let qh0 = w4[base + 8u + 2u * n];
    let qh1 = w4[base + 9u + 2u * n];
    let scw = w4[base + 12u];
    let sc = select(scw.xy, scw.zw, n == 1u);
    let d = block_scale(blk);
    return d * vec4<f32>(
        q6_half_dot(ql, qh0, qh1, sc, xu.x),
        q6_half_dot(ql, qh0, qh1, sc, xu.y),
        q6_half_dot(ql, qh0, qh1, sc, xu.z),
        q6_half_dot(ql, qh0, qh1, sc, xu.w),
    );
}
