// KV-cache elements as f16 pairs packed in u32s (the default `KvPrecision`): half the memory
// and half the attention reads of f32. Written with pack2x16float, read with
// unpack2x16float, so the arithmetic stays f32 on adapters without shader-f16. The host
// includes this file or kv_f32.wgsl as `common/kv_elements.wgsl`.

alias KvPair = u32;       // 2 elements
alias KvQuad = vec2<u32>; // 4 elements

// Readers (attention) may widen the halves through their bits instead of the conversion
// instruction, which runs at a quarter rate on NVIDIA GPUs (`Tuning::kv_bits`): exact for
// normal and subnormal halves where the adapter keeps f32 subnormals (else those, below
// 6.1e-5, read as 0), and infinities read as 65536. Set by the host for f16 caches only.
override kv_bits: bool = false;

// Four halves (in the low 16 bits of each lane) as f32: the exponent and mantissa moved to
// f32's places, rebiased by a multiply with 2^112, the sign put back.
fn halves_by_bits(h: vec4<u32>) -> vec4<f32> {
    let magnitude = bitcast<vec4<f32>>((h & vec4<u32>(0x7fffu)) << vec4<u32>(13u)) * 5.192296858534828e33;
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(magnitude) | ((h & vec4<u32>(0x8000u)) << vec4<u32>(16u)));
}

fn kv_pack(v: vec2<f32>) -> KvPair {
    return pack2x16float(v);
}

fn kv_pair(p: KvPair) -> vec2<f32> {
    if (kv_bits) {
        return halves_by_bits(vec4<u32>(p, p >> 16u, 0u, 0u)).xy;
    }
    return unpack2x16float(p);
}

fn kv_quad(p: KvQuad) -> vec4<f32> {
    if (kv_bits) {
        return halves_by_bits(vec4<u32>(p.x, p.x >> 16u, p.y, p.y >> 16u));
    }
    return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
