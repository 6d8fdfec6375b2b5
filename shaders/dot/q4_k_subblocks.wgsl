// Q4_K dot units of one sub-block (32 elements) per unit, for GPUs: twice the units of a row
// that dot/q4_k.wgsl's quarter blocks give, so twice the threads of a workgroup at work on the
// model's rows (2048 columns: 64 units, one for each of 64 threads, where quarters leave half
// of them idle) and half a thread's chain. Sub-block 2c + h of a block is the low (h = 0) or
// high (h = 1) nibbles of the block's qs words 1 + 2c and 2 + 2c (32 bytes): the two threads
// of a quarter load the same 32 bytes and decode half each. A block is 9 vec4 words: (d, dmin)
// + 3 scale words, then 8 of qs. dot = d sc (q . x) - dmin m sum(x).
// (Interface: dot/generic.wgsl. 16-byte words through `w_vec4`: common/weights_wide.wgsl.)

#include "common/weights_wide.wgsl"
#include "common/f16_pair.wgsl"

#include "common/x_unit_sum32.wgsl"

// Sub-block `sb` (0..8) of a block dotted with x: its nibbles from the qs words q0 and q1,
// its (d sc, dmin m) from the block's first word `head`.
fn q4k_subblock_dot(sb: u32, head: vec4<u32>, q0: vec4<u32>, q1: vec4<u32>, xv: XUnit) -> f32 {
    // Binding 1 must be used by every helper (see dot/q4_k.wgsl): `w_keep` costs no load.
    w_keep();
    let dm = f16_pair(head.x);
    let sm = kscale_min_of(head.yzw, sb);
    let s = 4u * (sb & 1u); // the high nibbles of odd sub-blocks, shifted down
    let v = xv.v;
    let q = nibbles_lo(q0.x >> s) * v[0] + nibbles_lo(q0.y >> s) * v[1] + nibbles_lo(q0.z >> s) * v[2]
        + nibbles_lo(q0.w >> s) * v[3] + nibbles_lo(q1.x >> s) * v[4] + nibbles_lo(q1.y >> s) * v[5]
        + nibbles_lo(q1.z >> s) * v[6] + nibbles_lo(q1.w >> s) * v[7];
    return dm.x * sm.x * hsum(q) - dm.y * sm.y * xv.sum;
}

// The first of unit `unit`'s two qs words: word 1 + 2c of its block (c = its quarter).
fn q4k_subblock_qs(unit: u32) -> u32 {
    return (unit >> 3u) * 9u + 1u + 2u * ((unit >> 1u) & 3u);
}

fn unit_dot(unit: u32, xv: XUnit) -> f32 {
    let qs = q4k_subblock_qs(unit);
    return q4k_subblock_dot(unit & 7u, w_vec4((unit >> 3u) * 9u), w_vec4(qs), w_vec4(qs + 1u), xv);
}

// Runs of units for common/dot_loop_chunked.wgsl: a block's 8 units share its head.
const RUN_UNITS: u32 = 8u;

fn run_head(first: u32) -> vec4<u32> {
    return w_vec4((first >> 3u) * 9u);
}

fn run_unit_dot(unit: u32, j: u32, head: vec4<u32>, xv: XUnit) -> f32 {
    let qs = q4k_subblock_qs(unit);
    return q4k_subblock_dot(j, head, w_vec4(qs), w_vec4(qs + 1u), xv);
}

// The same unit dotted with 4 vectors (batch_matvec): the weight words are loaded once.
fn unit_dot4(unit: u32, xu: vec4<u32>) -> vec4<f32> {
    let head = w_vec4((unit >> 3u) * 9u);
    let qs = q4k_subblock_qs(unit);
    let q0 = w_vec4(qs);
    let q1 = w_vec4(qs + 1u);
    let sb = unit & 7u;
    return vec4<f32>(
        q4k_subblock_dot(sb, head, q0, q1, x_unit(xu.x)),
        q4k_subblock_dot(sb, head, q0, q1, x_unit(xu.y)),
        q4k_subblock_dot(sb, head, q0, q1, x_unit(xu.z)),
        q4k_subblock_dot(sb, head, q0, q1, x_unit(xu.w)),
    );
}
