// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// F16: a "block" is 4 consecutive elements in 2 words; f16 is widened with unpack2x16float,
// which needs no shader-f16 support.

const QK: u32 = 4u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w_word(blk * 2u)), unpack2x16float(w_word(blk * 2u + 1u)));
}
