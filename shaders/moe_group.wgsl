// Groups the (token, slot) pairs of a mixture-of-experts step by expert, up to 4 to a work
// item, for `moe_batch_matvec` (prefill: each expert's weights are then decoded once per 4
// pairs routed to it instead of once per pair). One workgroup, one thread per expert
// (E <= wg_size): thread e counts its pairs, the items are numbered by expert (an exclusive
// prefix sum of the counts), then thread e writes its items in slot order.
// items[0].x = the item count; item i is items[1 + 2i] = (expert, pairs 1..4, 0, 0) and
// items[2 + 2i] = its pair indices t * k + s, the unused lanes repeating the last one.

#include "common/group_params.wgsl"

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> selected: array<u32>;         // (T * k) expert ids
@group(0) @binding(2) var<storage, read_write> items: array<vec4<u32>>; // (1 + 2 * max items, 4)

override wg_size: u32 = 64u; // at least E

var<workgroup> item_counts: array<u32, wg_size>; // work items of each expert

@compute @workgroup_size(wg_size)
fn moe_group(@builtin(local_invocation_id) lid: vec3<u32>) {
    let e = lid.x;
    var n = 0u;
    if (e < params.n_experts) {
        for (var i = 0u; i < params.n_slots; i++) {
            n += select(0u, 1u, selected[i] == e);
        }
    }
    item_counts[e] = (n + 3u) / 4u;
    workgroupBarrier();
    // Items before this expert's, and in all (a constant-bounded loop: see moe_route).
    var first = 0u;
    var total = 0u;
    for (var j = 0u; j < wg_size; j++) {
        let c = item_counts[j];
        first += select(0u, c, j < e);
        total += c;
    }
    if (e == 0u) {
        items[0] = vec4<u32>(total, 0u, 0u, 0u);
    }
    if (n == 0u) {
        return;
    }
    let lanes = vec4<u32>(0u, 1u, 2u, 3u);
    var item = first;
    var fill = 0u;
    var pairs = vec4<u32>(0u);
    for (var i = 0u; i < params.n_slots; i++) {
        if (selected[i] == e) {
            pairs = select(pairs, vec4<u32>(i), lanes == vec4<u32>(fill));
            fill += 1u;
            if (fill == 4u) {
                items[1u + 2u * item] = vec4<u32>(e, 4u, 0u, 0u);
                items[2u + 2u * item] = pairs;
                item += 1u;
                fill = 0u;
            }
        }
    }
    if (fill > 0u) {
        let last = select(select(pairs.x, pairs.y, fill > 1u), pairs.z, fill > 2u);
        items[1u + 2u * item] = vec4<u32>(e, fill, 0u, 0u);
        items[2u + 2u * item] = select(pairs, vec4<u32>(last), lanes >= vec4<u32>(fill));
    }
}
