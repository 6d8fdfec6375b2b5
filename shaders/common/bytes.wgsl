// Sub-word unpacking. WGSL storage buffers are read as whole little-endian u32 words, so the
// byte and bit fields of ggml blocks are shifted out of words here.
// Integers become floats without a conversion instruction (a quarter-rate one on NVIDIA
// GPUs, where it bounds the quantized matvecs): a value n < 2^23 OR-ed into the bits of
// 2^23 reads as the float 2^23 + n, and subtracting 2^23 leaves n exactly. The results are
// the same floats as `f32(n)`.

const F32_2P23: u32 = 0x4b000000u; // the bits of 2^23 as an f32

// 2^23 + n for each lane n < 2^23, as floats.
fn biased_f32(n: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(n | vec4<u32>(F32_2P23));
}

// The four bytes of `v` (lowest address first) as unsigned values, less `c` (an integer
// constant: the subtraction is then part of the conversion's own, exactly).
fn bytes_u_less(v: u32, c: f32) -> vec4<f32> {
    return biased_f32((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu)) - (8388608.0 + c);
}

fn bytes_u(v: u32) -> vec4<f32> {
    return bytes_u_less(v, 0.0);
}

// The four bytes of `v` as signed i8 values: flipping the sign bit maps -128..127 to 0..255.
fn bytes_i(v: u32) -> vec4<f32> {
    return biased_f32(((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu)) ^ vec4<u32>(0x80u)) - 8388736.0;
}

// Bits 0..3 of `h` moved to bit 0 of bytes 0..3: one high bit per packed element.
fn spread4(h: u32) -> u32 {
    return (h & 1u) | ((h & 2u) << 7u) | ((h & 4u) << 14u) | ((h & 8u) << 21u);
}

// The low nibbles of the four bytes of `v` as unsigned values, less `c` (as in bytes_u_less).
fn nibbles_lo_less(v: u32, c: f32) -> vec4<f32> {
    return biased_f32((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u)) - (8388608.0 + c);
}

// The high nibbles of the four bytes of `v` as unsigned values, less `c`.
fn nibbles_hi_less(v: u32, c: f32) -> vec4<f32> {
    return biased_f32((vec4<u32>(v) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u)) - (8388608.0 + c);
}

fn nibbles_lo(v: u32) -> vec4<f32> {
    return nibbles_lo_less(v, 0.0);
}

fn nibbles_hi(v: u32) -> vec4<f32> {
    return nibbles_hi_less(v, 0.0);
}
