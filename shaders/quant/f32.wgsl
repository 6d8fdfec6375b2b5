// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// F32: a "block" is 4 consecutive elements, one word each (so rows need cols % 4 == 0).

const QK: u32 = 4u;

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    let b = blk * 4u;
    return vec4<f32>(bitcast<f32>(w_word(b)), bitcast<f32>(w_word(b + 1u)), bitcast<f32>(w_word(b + 2u)), bitcast<f32>(w_word(b + 3u)));
}
