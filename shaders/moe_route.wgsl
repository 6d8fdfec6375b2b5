// Router of a mixture-of-experts layer from logits already computed (by `matvec`), one
// workgroup per token: the top-k choice of common/top_k_route.wgsl. GPUs route this way;
// CPU adapters compute the logits in the same launch (`moe_router`, `Tuning::fused_router`).

struct Params {
    n_experts: u32, // E, at most MAX_EXPERTS
    k: u32,         // experts per token, at most E
    n_tokens: u32,  // T
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;         // (T, E) router logits
@group(0) @binding(2) var<storage, read> bias: array<f32>;           // (E) expert bias
@group(0) @binding(3) var<storage, read_write> selected: array<u32>; // (T, k) expert ids, best first
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;  // (T, k)

override wg_size: u32 = 64u; // a power of two, at most 256

#include "common/top_k_route.wgsl"
#include "common/route_scores.wgsl"

@compute @workgroup_size(wg_size)
fn moe_route(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let t = wid.x + wid.y * nwg.x; // tokens folded into y past 65535 workgroups
    if (t >= params.n_tokens) {
        return; // uniform: depends on the workgroup only
    }
    let n = params.n_experts;
    load_route_scores(lid.x, t, n);
    route_top_k(lid.x, n);
    store_route(lid.x, t);
}
