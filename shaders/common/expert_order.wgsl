// The prefill's (token, slot) pairs sorted by expert (`moe_sort` writes it, `moe_matmul` reads
// it), in the including kernel's `order: array<u32>`: a header of (first, count) per expert
// e < MAX_EXPERTS at order[2e], order[2e + 1], then the pair indices t * k + s, expert by
// expert, each expert's in slot order, from order[ORDER_PAIRS].

const MAX_EXPERTS: u32 = 64u; // moe_sort's workgroup: a thread per expert
const ORDER_PAIRS: u32 = 2u * MAX_EXPERTS;
