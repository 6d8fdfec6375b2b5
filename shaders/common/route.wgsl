// The top-k choice of a mixture-of-experts router for one token, by one workgroup with one
// thread per expert (E <= wg_size), shared by `moe_route` and `moe_router`: scores =
// sigmoid(logits); the k experts with the largest score + bias are selected, best first, ties
// to the lower expert (the bias only chooses); their weights are their scores over (the sum
// of the k scores + 1e-6), summed best first as the reference does.
// The including kernel declares `params` (with n_experts and k), `bias`, `selected`,
// `weights` and `override wg_size` as moe_route.wgsl does.

var<workgroup> biased: array<f32, wg_size>; // score + bias per expert
var<workgroup> chosen: array<f32, wg_size>; // score of the expert ranked r, for r < k

// Thread `e` holds the logit of expert e (ignored for e >= E). Has barriers: every thread of
// the workgroup calls it, in uniform control flow.
fn route_token(t: u32, e: u32, logit: f32) {
    let n = params.n_experts;
    var score = 0.0;
    if (e < n) {
        score = 1.0 / (1.0 + exp(-logit)); // sigmoid, as the reference writes it
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
