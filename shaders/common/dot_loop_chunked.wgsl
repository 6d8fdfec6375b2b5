// The unit loop of common/dot_rows.wgsl for a format whose f16 block scales sit apart in
// the scale region (common/split_scale.wgsl; the host picks it for dot/q4_0.wgsl): with
// `scale_chunks`, each thread takes runs of 8 consecutive units (a chunk) and reads a row's 8
// scales with one 16-byte load, instead of one load per unit. On CPU adapters a load is what
// costs (llvmpipe reads storage one lane at a time), so this is their loop: lavapipe Q4_0
// matvec 3.10 -> 3.37 GB/s (4096 x 2048, medians of 8 interleaved runs). On a GPU the
// threads' runs would not coalesce: the strided loop stays there.
// The dot helper provides `split_unit_dot(unit, xv, d)`: unit_dot with its scale d given.

// Set by the host only where every row is whole chunks that the threads share evenly (the
// loop has no tail): chunks per row a multiple of wg_size.
override scale_chunks: bool = false;

const CHUNK_UNITS: u32 = 8u; // the f16 scales of one vec4<u32>

fn row_partials(lid: u32, a: vec4<u32>, b: vec4<u32>, x0: u32, cols4: u32) -> RowSums {
    if (!scale_chunks) {
        return strided_partials(lid, a, b, x0, cols4);
    }
    let chunks = cols4 / (UNIT / 4u) / CHUNK_UNITS;
    var acc = RowSums(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var c = lid; c < chunks; c += wg_size) {
        let u0 = c * CHUNK_UNITS;
        // Row i's scales for units u0 .. u0 + 7 (a row starts at a multiple of 8 units).
        let sa = array<vec4<u32>, 4>(chunk_scales(a[0] + u0), chunk_scales(a[1] + u0), chunk_scales(a[2] + u0), chunk_scales(a[3] + u0));
        let sb = array<vec4<u32>, 4>(chunk_scales(b[0] + u0), chunk_scales(b[1] + u0), chunk_scales(b[2] + u0), chunk_scales(b[3] + u0));
        for (var j = 0u; j < CHUNK_UNITS; j++) {
            let u = u0 + j;
            let xv = x_unit(x0 + u * (UNIT / 4u));
            acc.a += vec4<f32>(
                split_unit_dot(a[0] + u, xv, chunk_scale(sa[0], j)), split_unit_dot(a[1] + u, xv, chunk_scale(sa[1], j)),
                split_unit_dot(a[2] + u, xv, chunk_scale(sa[2], j)), split_unit_dot(a[3] + u, xv, chunk_scale(sa[3], j)),
            );
            acc.b += vec4<f32>(
                split_unit_dot(b[0] + u, xv, chunk_scale(sb[0], j)), split_unit_dot(b[1] + u, xv, chunk_scale(sb[1], j)),
                split_unit_dot(b[2] + u, xv, chunk_scale(sb[2], j)), split_unit_dot(b[3] + u, xv, chunk_scale(sb[3], j)),
            );
        }
    }
    return acc;
}

// The 8 f16 scales of units `first .. first + 8` (first a multiple of 8; the scale region
// starts at a multiple of 4 words: it follows whole 16-byte block bodies).
fn chunk_scales(first: u32) -> vec4<u32> {
    return w4[(params.scale_base + (first >> 1u)) >> 2u];
}

// Scale j < 8 of a chunk.
fn chunk_scale(s: vec4<u32>, j: u32) -> f32 {
    let d = unpack2x16float(s[j >> 1u]);
    return select(d.x, d.y, (j & 1u) != 0u);
}
