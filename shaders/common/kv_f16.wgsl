// KV-cache elements as f16 pairs packed in u32s (the default `KvPrecision`): half the memory
// and half the attention reads of f32. Written with pack2x16float, read with
// unpack2x16float, so the arithmetic stays f32 on adapters without shader-f16. The host
// includes this file or kv_f32.wgsl as `common/kv_elements.wgsl`.

alias KvPair = u32;       // 2 elements
alias KvQuad = vec2<u32>; // 4 elements

fn kv_pack(v: vec2<f32>) -> KvPair {
    return pack2x16float(v);
}

fn kv_pair(p: KvPair) -> vec2<f32> {
    return unpack2x16float(p);
}

fn kv_quad(p: KvQuad) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
