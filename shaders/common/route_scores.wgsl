// Fills common/top_k_route.wgsl's `score` and `biased` for token t from router logits in a
// buffer: the includer (`moe_route`, `moe_route_gate_up`) declares `logits` (T, E) and
// `bias` (E), and includes top_k_route.wgsl first.

fn load_route_scores(lid: u32, t: u32, n: u32) {
    for (var e = lid; e < n; e += wg_size) {
        let s = sigmoid(logits[t * n + e]);
        score[e] = s;
        biased[e] = s + bias[e];
    }
}
