// A word's two f16 values as f32 (the K-quant dot units' block (d, dmin)): the adapter's own
// conversion, on GPUs. Included as `common/f16_pair.wgsl`; CPU adapters get
// common/f16_pair_bits.wgsl.

fn f16_pair(v: u32) -> vec2<f32> {
    return unpack2x16float(v);
}
