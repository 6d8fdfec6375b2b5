// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q5_0, repacked: 5 body words per block (qh, then 4 words of qs), scale d in the scale
// region. Bit i of qh is bit 4 of element i. value = (q - 16) * d

#include "common/bytes.wgsl"
#include "common/split_scale.wgsl"

const QK: u32 = 32u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let base = blk * 5u;
    let lo = (w_word(base + 1u + (j & 3u)) >> ((j >> 2u) * 4u)) & 0x0f0f0f0fu;
    let hi = spread4(w_word(base) >> (4u * j));
    return bytes_u_less(lo | (hi << 4u), 16.0) * block_scale(blk);
}
