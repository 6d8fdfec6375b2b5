// Sorts the (token, slot) pairs of a mixture-of-experts prefill step by expert, for
// `moe_matmul` (layout: common/expert_order.wgsl). One workgroup, one thread per expert
// (E <= MAX_EXPERTS): thread e counts its pairs, the experts' firsts are an exclusive prefix
// sum of the counts, then thread e writes its pairs in slot order.

#include "common/group_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> selected: array<u32>;     // (T * k) expert ids
@group(0) @binding(2) var<storage, read_write> order: array<u32>;  // (ORDER_PAIRS + T * k)

#include "common/expert_order.wgsl"

var<workgroup> counts: array<u32, MAX_EXPERTS>;

@compute @workgroup_size(64)
fn moe_sort(@builtin(local_invocation_id) lid: vec3<u32>) {
    let e = lid.x;
    var n = 0u;
    if (e < params.n_experts) {
        for (var i = 0u; i < params.n_slots; i++) {
            n += select(0u, 1u, selected[i] == e);
        }
    }
    counts[e] = n;
    workgroupBarrier();
    var first = 0u;
    for (var j = 0u; j < MAX_EXPERTS; j++) {
        first += select(0u, counts[j], j < e);
    }
    order[2u * e] = first;
    order[2u * e + 1u] = n;
    var at = ORDER_PAIRS + first;
    for (var i = 0u; i < params.n_slots && at < ORDER_PAIRS + first + n; i++) {
        if (selected[i] == e) {
            order[at] = i;
            at += 1u;
        }
    }
}
