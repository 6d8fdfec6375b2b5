// Q4_K / Q5_K: the 6-bit (scale, min) of sub-block `sb` (0..8) from the 12 `scales` bytes,
// which sit in words 1..3 of the block starting at word `base` (llama.cpp's
// `get_scale_min_k4`). Sub-blocks 0..4 keep them in the low 6 bits of bytes sb and sb + 4;
// sub-blocks 4..8 keep the low 4 bits in the nibbles of byte sb + 4 and the top 2 bits in the
// otherwise unused top bits of bytes sb - 4 (scale) and sb (min).

// Byte k of the 12 scale bytes, held in three words.
fn kscale_byte_of(sc: vec3<u32>, k: u32) -> u32 {
    return (sc[k >> 2u] >> ((k & 3u) * 8u)) & 0xffu;
}

// (scale, min) of sub-block `sb` from the three scale words.
fn kscale_min_of(sc: vec3<u32>, sb: u32) -> vec2<f32> {
    if (sb < 4u) {
        return vec2<f32>(f32(kscale_byte_of(sc, sb) & 63u), f32(kscale_byte_of(sc, sb + 4u) & 63u));
    }
    let packed = kscale_byte_of(sc, sb + 4u);
    let s = (packed & 0xfu) | ((kscale_byte_of(sc, sb - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((kscale_byte_of(sc, sb) >> 6u) << 4u);
    return vec2<f32>(f32(s), f32(m));
}

// (scale, min) of sub-block `sb` of the block whose first word is `base`.
fn kscale_min(base: u32, sb: u32) -> vec2<f32> {
    return kscale_min_of(vec3<u32>(w_word(base + 1u), w_word(base + 2u), w_word(base + 3u)), sb);
}
