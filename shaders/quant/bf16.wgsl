// Quant helper interface (shared by every file in shaders/quant/; the including kernel
// declares `w: array<u32>`, one GpuMatrix part, and a uniform `params` with `scale_base`):
//   const QK: u32                               elements per block on the GPU
//   fn dequant4(blk: u32, j: u32) -> vec4<f32>  elements 4j..4j+3 of part-local block `blk`
// Values are computed with the same f32 operations, in the same order, as
// `lfm_webgpu::quant::dequantize`, so they agree bit for bit.

// BF16: a "block" is 4 consecutive elements in 2 words; a bf16 is the top half of an f32.

const QK: u32 = 4u;

fn bf16_pair(v: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
}

fn dequant4(blk: u32, j: u32) -> vec4<f32> {
    return vec4<f32>(bf16_pair(w_word(blk * 2u)), bf16_pair(w_word(blk * 2u + 1u)));
}
