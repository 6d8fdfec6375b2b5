// The vectors of a matrix-vector kernel (binding 2) as a storage buffer: any length. GPUs
// read it this way (and CPU adapters when the vectors exceed common/x_uniform.wgsl's window).
// The host includes this file or x_uniform.wgsl as `common/x_vectors.wgsl`.

@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (vectors, cols / 4)

fn prepare_x(lid: u32, first: bool) {} // nothing to prepare (see common/x_normed.wgsl)
