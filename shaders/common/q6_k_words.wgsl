// The Q6_K element words shared by the Q6_K dot helpers (dot/q6_k.wgsl: a unit per half
// block; dot/q6_k_quarters.wgsl: a unit per quarter). Block layout: dot/q6_k.wgsl.

// The words every unit of a half reads: the half's two qh vec4s and 8 scale bytes, and the
// block's d (half n of block blk; a repacked body is 13 vec4s, scales in the last).
struct Q6kHalfWords {
    qh0: vec4<u32>,
    qh1: vec4<u32>,
    sc: vec2<u32>,
    d: f32,
}

fn q6k_half_words(blk: u32, n: u32) -> Q6kHalfWords {
    let base = blk * 13u;
    let scw = w_vec4(base + 12u);
    return Q6kHalfWords(w_vec4(base + 8u + 2u * n), w_vec4(base + 9u + 2u * n), select(scw.xy, scw.zw, n == 1u), block_scale(blk));
}

// Word i of a quarter: the 4 elements of ql word `ql` (nibbles at `lo_shift`) and qh word
// `qh` (2 bits at `hi_shift`), less 32.
fn q6_word(ql: u32, qh: u32, lo_shift: u32, hi_shift: u32) -> vec4<f32> {
    return bytes_u_less(((ql >> lo_shift) & 0x0f0f0f0fu) | (((qh >> hi_shift) & 0x03030303u) << 4u), 32.0);
}

// The 32 elements of one quarter dotted with x[xu .. xu + 8], as the two 16-element sums.
// Words spelled out rather than looped over: see dot/q4_0.wgsl.
fn q6_quarter(ql0: vec4<u32>, ql1: vec4<u32>, qh0: vec4<u32>, qh1: vec4<u32>, lo_shift: u32, hi_shift: u32, xu: u32) -> vec2<f32> {
    let a = q6_word(ql0.x, qh0.x, lo_shift, hi_shift) * x[xu] + q6_word(ql0.y, qh0.y, lo_shift, hi_shift) * x[xu + 1u]
        + q6_word(ql0.z, qh0.z, lo_shift, hi_shift) * x[xu + 2u] + q6_word(ql0.w, qh0.w, lo_shift, hi_shift) * x[xu + 3u];
    let b = q6_word(ql1.x, qh1.x, lo_shift, hi_shift) * x[xu + 4u] + q6_word(ql1.y, qh1.y, lo_shift, hi_shift) * x[xu + 5u]
        + q6_word(ql1.z, qh1.z, lo_shift, hi_shift) * x[xu + 6u] + q6_word(ql1.w, qh1.w, lo_shift, hi_shift) * x[xu + 7u];
    return vec2<f32>(hsum(a), hsum(b));
}

// Signed scale byte `i` (0..8) of a half, from its two scale words.
fn q6_scale(s: vec2<u32>, i: u32) -> f32 {
    return f32((bitcast<i32>(s[i >> 2u]) << (24u - 8u * (i & 3u))) >> 24u);
}
