// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// Q4_K, as stored (144 bytes = 36 words): (d, dmin) f16 pair, 3 words of packed 6-bit
// scales/mins, 32 words of qs. Element e lies in 64-element chunk c = e / 64, whose 32 qs
// bytes hold its first 32 elements in the low nibbles and the next 32 in the high nibbles.
// value = (d * sc) * q - (dmin * m), sc/m of sub-block e / 32.

#include "common/bytes.wgsl"
#include "common/kscale.wgsl"

const QK: u32 = 256u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let base = blk * 36u;
    let dm = unpack2x16float(w_word(base));
    let sb = j >> 3u; // sub-block of 32; also 2 * chunk + (high nibble)
    let q = (w_word(base + 4u + 8u * (j >> 4u) + (j & 7u)) >> (4u * (sb & 1u))) & 0x0f0f0f0fu;
    let sm = kscale_min(base, sb);
    return (dm.x * sm.x) * bytes_u(q) - dm.y * sm.y;
}
