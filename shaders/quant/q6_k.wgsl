// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q6_K, repacked: 52 body words per block (ql: 32 words, qh: 16 words, 16 signed 8-bit
// scales: 4 words), f16 scale d in the scale region. Each 128-element half n has 64 ql bytes
// and 32 qh bytes; its quarter k, position l, takes the low (k < 2) or high nibble of
// ql[64n + 32(k & 1) + l] and bits 2k..2k+2 of qh[32n + l]; 16-element sub-block scales.
// value = (d * sc) * (q - 32)

#include "common/bytes.wgsl"
#include "common/split_scale.wgsl"

const QK: u32 = 256u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let base = blk * 52u;
    let n = j >> 5u; // half
    let k = (j >> 3u) & 3u; // quarter within the half
    let l4 = j & 7u; // word of the 32-byte position run
    let lo = (w_word(base + 16u * n + 8u * (k & 1u) + l4) >> (4u * (k >> 1u))) & 0x0f0f0f0fu;
    let hi = (w_word(base + 32u + 8u * n + l4) >> (2u * k)) & 0x03030303u;
    let s = 8u * n + (l4 >> 2u) + 2u * k; // scale index: 8n + l / 16 + 2k
    let sc_word = bitcast<i32>(w_word(base + 48u + (s >> 2u)));
    let sc = f32((sc_word << (24u - 8u * (s & 3u))) >> 24u);
    return (block_scale(blk) * sc) * bytes_u_less(lo | (hi << 4u), 32.0);
}
