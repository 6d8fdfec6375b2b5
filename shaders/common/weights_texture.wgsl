// The weights of one GpuMatrix part as an rgba32uint texture (binding 1): 16-byte word i of
// the part is texel (i % W_TEXELS, i / W_TEXELS), a texture row holding W_TEXELS of them
// (`gpu::matrix::W_TEXELS`); the part's bytes are the same as in its buffer. CPU adapters
// (`Tuning::weight_textures`): llvmpipe loads a storage buffer one lane and one component at
// a time, each behind a branch, but fetches texels with vector gathers (lavapipe, 64 MiB read
// in vec4s: 4.3 GB/s from a storage buffer, 6.4 from an rgba32uint texture).

@group(0) @binding(1) var w_texels: texture_2d<u32>; // one part: (ceil(words / 4 / W_TEXELS), W_TEXELS) texels

const W_TEXELS_LOG2: u32 = 12u;

fn w_vec4(i: u32) -> vec4<u32> {
    let at = vec2<u32>(i & ((1u << W_TEXELS_LOG2) - 1u), i >> W_TEXELS_LOG2);
    return textureLoad(w_texels, at, 0);
}

fn w_word(i: u32) -> u32 {
    return w_vec4(i >> 2u)[i & 3u];
}

fn w_keep() {} // the texture is bound by every read
