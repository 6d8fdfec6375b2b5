// `Params` of the expert kernels (`moe_matvec`, `moe_batch_matvec`, `moe_matmul`,
// `moe_down_add`), mirrored by `MatvecParams` in src/gpu/kernels/moe.rs; `moe_route_gate_up`
// spells the same fields out before its own.

struct Params {
    cols4: u32,           // elements per row / 4
    rows_per_expert: u32, // rows of one expert = elements per y row
    expert0: u32,         // first expert held by this part
    n_experts: u32,       // experts held by this part
    k: u32,               // slots per token (columns of selected)
    x_per_slot: u32,      // 1: x has one row per (token, slot); 0: one per token
    scale_base: u32,      // word offset of the part's split f16 scales (repacked types)
    expert_stride: u32,   // buffer rows from one expert's first row to the next's
    row_offset: u32,      // buffer row of the part's first expert's first row
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}
