// KV-cache elements as f32 (`KvPrecision::F32`): exact, twice the memory of kv_f16.wgsl. The
// host includes this file or kv_f16.wgsl as `common/kv_elements.wgsl`.

alias KvPair = vec2<f32>; // 2 elements
alias KvQuad = vec4<f32>; // 4 elements

fn kv_pack(v: vec2<f32>) -> KvPair {
    return v;
}

fn kv_pair(p: KvPair) -> vec2<f32> {
    return p;
}

fn kv_quad(p: KvQuad) -> vec4<f32> {
    return p;
}
