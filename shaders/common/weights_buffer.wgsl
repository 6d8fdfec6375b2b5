// The weights of one GpuMatrix part as a storage buffer (binding 1), a word at a time; the
// dot helpers that read 16 bytes at once bind it again (common/weights_wide_buffer.wgsl).
// Kernels include `common/weights.wgsl`, which names this file or
// common/weights_texture.wgsl (the host's choice per matrix: `GpuMatrix::to_textures`).

@group(0) @binding(1) var<storage, read> w: array<u32>; // one part, in GpuMatrix layout

fn w_word(i: u32) -> u32 {
    return w[i];
}

// Keeps binding 1 in the layout of a kernel whose dot helper reads only `w4` (the layout comes
// from the shader, and the host binds both).
fn w_keep() {
    _ = arrayLength(&w);
}
