// `Params` of the kernels that group a prefill step's (token, slot) pairs by expert
// (`moe_group`, `moe_sort`), mirrored by `GroupParams` in src/gpu/kernels/moe_batch.rs.

struct Params {
    n_slots: u32,   // T * k: entries of `selected`
    n_experts: u32, // E, at most 64 (a thread each)
    _pad0: u32,
    _pad1: u32,
}
