// The top-k choice of a mixture-of-experts router, shared by `moe_route` (logits from a
// buffer), `moe_router` (logits computed in the same workgroup) and `moe_route_gate_up` (each
// expert workgroup routes its own token). The includer fills `score` (the sigmoid of each
// expert's logit) and `biased` (score + expert bias) for experts 0 .. n, then calls
// `route_top_k` in uniform control flow, which leaves the experts ranked 0 .. k in `ranked`,
// best first; `store_route` writes them and their weights out. The includer declares `params`
// (with k), `selected`, `weights` and `override wg_size`. Every thread ranks experts lid,
// lid + wg_size, ...: the k with the largest score + bias are selected, best first, ties to
// the lower expert (the bias only chooses); their weights are their scores over (the sum of
// the k scores + 1e-6), summed best first as the reference does.

const MAX_EXPERTS: u32 = 64u;

var<workgroup> score: array<f32, MAX_EXPERTS>;  // sigmoid(logit) per expert
var<workgroup> biased: array<f32, MAX_EXPERTS>; // score + bias per expert
var<workgroup> chosen: array<f32, MAX_EXPERTS>; // score of the expert ranked r, for r < k
var<workgroup> ranked: array<u32, MAX_EXPERTS>; // the expert ranked r, for r < k

// The sigmoid, as the reference writes it.
fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Ranks experts 0 .. n (score and biased written, not yet synchronized) into `ranked` and
// `chosen`, synchronized when it returns.
fn route_top_k(lid: u32, n: u32) {
    workgroupBarrier();
    // Rank = experts strictly better, or equal with a lower id. The inner loop runs to the
    // constant MAX_EXPERTS with j < n inside: llvmpipe runs a loop bounded by a uniform-buffer
    // value ~30x slower (2 ms for 32 steps, 28 % of a decoded token when it was written so).
    for (var e = lid; e < n; e += wg_size) {
        let b = biased[e];
        var rank = 0u;
        for (var j = 0u; j < MAX_EXPERTS; j++) {
            let o = biased[j]; // unwritten past n: masked by j < n
            rank += select(0u, 1u, j < n && (o > b || (o == b && j < e)));
        }
        if (rank < params.k) {
            ranked[rank] = e;
            chosen[rank] = score[e];
        }
    }
    workgroupBarrier();
}

// Writes token t's experts (after `route_top_k`) to `selected` and their weights to `weights`.
fn store_route(lid: u32, t: u32) {
    for (var r = lid; r < params.k; r += wg_size) {
        var sum = 0.0;
        for (var i = 0u; i < MAX_EXPERTS; i++) {
            sum += select(0.0, chosen[i], i < params.k); // unwritten past k; best first
        }
        selected[t * params.k + r] = ranked[r];
        weights[t * params.k + r] = chosen[r] / (sum + 1e-6);
    }
}
