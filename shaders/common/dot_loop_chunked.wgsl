// The unit loop of common/dot_rows.wgsl for formats whose units come in runs that share one
// load (the host picks it for dot/q4_0.wgsl: 8 blocks' f16 scales in one 16-byte word of the
// scale region; dot/q4_k.wgsl: a block's 4 units and its head of d, dmin and scales). With
// `scale_chunks`, each thread takes whole chunks of 256 elements (a run) and loads that
// shared word once per row, instead of once per unit. On CPU adapters a load is what costs
// (llvmpipe reads storage one lane at a time), so this is their loop: lavapipe Q4_0 matvec
// 3.10 -> 3.37 GB/s (4096 x 2048, medians of 8 interleaved runs). On a GPU the threads' runs
// would not coalesce: the strided loop stays there.
// The dot helper provides RUN_UNITS (units per 256 elements), `run_head(first unit)` and
// `run_unit_dot(unit, j, head, xv)`: unit_dot of unit j of its run, with the run's head.

// Set by the host only where every row is whole chunks (the loop has no tail); the threads
// take them in turn, the last round with some idle where the chunks do not divide evenly.
override scale_chunks: bool = false;

fn row_partials(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    if (!scale_chunks) {
        return strided_partials(lid, a, b, x0, cols4);
    }
    let chunks = cols4 / (UNIT / 4u) / RUN_UNITS;
    var acc = RowSums(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var c = lid; c < chunks; c += wg_size) {
        let u0 = c * RUN_UNITS;
        // Row i's shared word for units u0 .. u0 + RUN_UNITS (a row starts at a whole run).
        let ha = array<vec4<u32>, 4>(run_head(a[0] + u0), run_head(a[1] + u0), run_head(a[2] + u0), run_head(a[3] + u0));
        let hb = array<vec4<u32>, 4>(run_head(b[0] + u0), run_head(b[1] + u0), run_head(b[2] + u0), run_head(b[3] + u0));
        for (var j = 0u; j < RUN_UNITS; j++) {
            let u = u0 + j;
            let xv = x_unit(x0 + u * (UNIT / 4u));
            acc.a += vec4<f32>(
                run_unit_dot(a[0] + u, j, ha[0], xv), run_unit_dot(a[1] + u, j, ha[1], xv),
                run_unit_dot(a[2] + u, j, ha[2], xv), run_unit_dot(a[3] + u, j, ha[3], xv),
            );
            acc.b += vec4<f32>(
                run_unit_dot(b[0] + u, j, hb[0], xv), run_unit_dot(b[1] + u, j, hb[1], xv),
                run_unit_dot(b[2] + u, j, hb[2], xv), run_unit_dot(b[3] + u, j, hb[3], xv),
            );
        }
    }
    return acc;
}
