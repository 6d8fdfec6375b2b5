// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q5_K, as stored (176 bytes = 44 words): (d, dmin), 3 words of scales/mins, 8 words of qh,
// 32 words of qs. As Q4_K, plus bit 4 of element e is bit e / 32 of qh byte e % 32.
// value = (d * sc) * q - (dmin * m)

#include "common/bytes.wgsl"
#include "common/kscale.wgsl"

const QK: u32 = 256u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let base = blk * 44u;
    let dm = unpack2x16float(w_word(base));
    let sb = j >> 3u;
    let lo = (w_word(base + 12u + 8u * (j >> 4u) + (j & 7u)) >> (4u * (sb & 1u))) & 0x0f0f0f0fu;
    let hi = (w_word(base + 4u + (j & 7u)) >> sb) & 0x01010101u;
    let sm = kscale_min(base, sb);
    return (dm.x * sm.x) * bytes_u(lo | (hi << 4u)) - dm.y * sm.y;
}
