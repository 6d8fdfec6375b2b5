// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q4_1, as stored (20 bytes = 5 words): word 0 = (d, m) f16 pair, words 1..5 = qs with
// Q4_0's nibble order. value = q * d + m

#include "common/bytes.wgsl"

const QK: u32 = 32u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let base = blk * 5u;
    let dm = unpack2x16float(w_word(base));
    let q = (w_word(base + 1u + (j & 3u)) >> ((j >> 2u) * 4u)) & 0x0f0f0f0fu;
    return bytes_u(q) * dm.x + dm.y;
}
