// Sub-word unpacking. WGSL storage buffers are read as whole little-endian u32 words, so the
// byte and bit fields of ggml blocks are shifted out of words here.

// The four bytes of `v` (lowest address first) as unsigned values.
fn bytes_u(v: u32) -> vec4<f32> {
    return vec4<f32>(f32(v & 0xffu), f32((v >> 8u) & 0xffu), f32((v >> 16u) & 0xffu), f32(v >> 24u));
}

// The four bytes of `v` as signed i8 values (arithmetic shifts sign-extend).
fn bytes_i(v: u32) -> vec4<f32> {
    let s = bitcast<i32>(v);
    return vec4<f32>(f32((s << 24u) >> 24u), f32((s << 16u) >> 24u), f32((s << 8u) >> 24u), f32(s >> 24u));
}

// Bits 0..3 of `h` moved to bit 0 of bytes 0..3: one high bit per packed element.
fn spread4(h: u32) -> u32 {
    return (h & 1u) | ((h & 2u) << 7u) | ((h & 4u) << 14u) | ((h & 8u) << 21u);
}

// The low nibbles of the four bytes of `v` as unsigned values.
fn nibbles_lo(v: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(15u));
}

// The high nibbles of the four bytes of `v` as unsigned values.
fn nibbles_hi(v: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(v) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(15u));
}
