// The x side of the K-quant sub-block dot units (dot/q4_k_subblocks.wgsl, dot/q5_k.wgsl): a
// unit's 32 elements of x and their sum (for the block's min term), loaded once for ROWS
// rows. Vectors are spelled out rather than looped over: see dot/q4_0.wgsl.

const UNIT: u32 = 32u;

struct XUnit {
    v: array<vec4<f32>, 8>,
    sum: f32,
}

fn x_unit(xu: u32) -> XUnit {
    let v = array<vec4<f32>, 8>(
        x[xu], x[xu + 1u], x[xu + 2u], x[xu + 3u], x[xu + 4u], x[xu + 5u], x[xu + 6u], x[xu + 7u],
    );
    return XUnit(v, hsum(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]));
}
