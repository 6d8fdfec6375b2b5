// Router of a mixture-of-experts layer, one workgroup per token, one thread per expert
// (E <= wg_size): scores = sigmoid(logits); the k experts with the largest score + bias are
// selected, best first, ties to the lower expert (the bias only chooses); their weights are
// their scores over (the sum of the k scores + 1e-6), summed best first as the reference does.

struct Params {
    n_experts: u32, // E, at most wg_size
    k: u32,         // experts per token, at most E
    n_tokens: u32,  // T
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;         // (T, E) router logits
@group(0) @binding(2) var<storage, read> bias: array<f32>;           // (E) expert bias
@group(0) @binding(3) var<storage, read_write> selected: array<u32>; // (T, k) expert ids, best first
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;  // (T, k)

override wg_size: u32 = 64u; // at least E, at most 256

var<workgroup> biased: array<f32, wg_size>; // score + bias per expert
var<workgroup> chosen: array<f32, wg_size>; // score of the expert ranked r, for r < k

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
    let e = lid.x;
    var score = 0.0;
    if (e < n) {
        score = 1.0 / (1.0 + exp(-logits[t * n + e])); // sigmoid, as the reference writes it
        biased[e] = score + bias[e];
    }
    workgroupBarrier();
    // Rank = experts strictly better, or equal with a lower id. The loop runs to the constant
    // wg_size with j < n inside: llvmpipe runs a loop bounded by a uniform-buffer value ~30x
    // slower (2 ms for these 32 steps, 28 % of a decoded token before this change).
    let b = biased[min(e, n - 1u)];
    var rank = 0u;
    for (var j = 0u; j < wg_size; j++) {
        let o = biased[j]; // unwritten past n: masked by j < n
        rank += select(0u, 1u, j < n && (o > b || (o == b && j < e)));
    }
    if (e < n && rank < params.k) {
        selected[t * params.k + rank] = e;
        chosen[rank] = score;
    }
    workgroupBarrier();
    if (e < params.k) {
        var sum = 0.0;
        for (var r = 0u; r < wg_size; r++) {
            sum += select(0.0, chosen[r], r < params.k); // unwritten past k; best first
        }
        weights[t * params.k + e] = chosen[e] / (sum + 1e-6);
    }
}
