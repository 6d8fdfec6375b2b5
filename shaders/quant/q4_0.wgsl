// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q4_0, repacked: 4 body words (qs) per block, scale d in the scale region. Element i < 16
// is the low nibble of byte i, element i + 16 its high nibble. value = (q - 8) * d

#include "common/bytes.wgsl"
#include "common/split_scale.wgsl"

const QK: u32 = 32u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let q = (w_word(blk * 4u + (j & 3u)) >> ((j >> 2u) * 4u)) & 0x0f0f0f0fu;
    return bytes_u_less(q, 8.0) * block_scale(blk);
}
