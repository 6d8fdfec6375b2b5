// The f16 scale `d` of block `blk` for the formats whose blocks are not a whole number of
// words (Q4_0, Q5_0, Q8_0, Q6_K). GpuMatrix moves those scales out of the blocks, at upload,
// into a region after all block bodies of the same buffer: f16 values packed two per word,
// starting at word `params.scale_base` (the including shader's uniform).

fn block_scale(blk: u32) -> f32 {
    return unpack2x16float(w_word(params.scale_base + (blk >> 1u)))[blk & 1u];
}
