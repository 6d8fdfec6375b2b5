// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q8_0, repacked: 8 body words of signed bytes per block, scale d in the scale region.
// value = q * d

#include "common/bytes.wgsl"
#include "common/split_scale.wgsl"

const QK: u32 = 32u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    return bytes_i(w_word(blk * 8u + j)) * block_scale(blk);
}
