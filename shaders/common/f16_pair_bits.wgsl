// A word's two f16 values as f32 (the K-quant dot units' block (d, dmin)), built from their
// bits without a subnormal operand, on CPU adapters: llvmpipe widens f16 through an f32
// subnormal, and an x86 core takes a microcode assist on each. K-quant scales are often f16
// subnormals (below 6.1e-5: a Q5_K block of weights within +-0.1 has d ~ 5e-5), and the dot
// units convert them every 32 or 64 elements (lavapipe, 8B Q5_K_M with subnormal scales: 502
// against 1,930 ms of GPU time a token, 2026-11-27). Included as `common/f16_pair.wgsl`.

// f16 `h` (low 16 bits) as f32: a normal one rebiased in the exponent; a subnormal one as
// 2^-14 (1 + m / 1024) less 2^-14, exact, from normal operands only.
fn f16_bits(h: u32) -> f32 {
    let e0 = (h & 0x7c00u) == 0u;
    let bits = ((h & 0x7fffu) << 13u) + select(112u << 23u, 113u << 23u, e0);
    let v = bitcast<f32>(bits) - select(0.0, 6.1035156e-5, e0);
    return select(v, -v, (h & 0x8000u) != 0u);
}

fn f16_pair(v: u32) -> vec2<f32> {
    return vec2<f32>(f16_bits(v & 0xffffu), f16_bits(v >> 16u));
}
