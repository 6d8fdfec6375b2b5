// The vector of a decode matrix-vector kernel as the RMS norm of the residual stream, taken by
// each workgroup itself into workgroup memory (`prepare_x`, called first by the kernel), where
// a norm launch would otherwise write it for the kernel to read: one launch fewer per norm on
// a token's critical path (`Tuning::fused_norms`). Each workgroup reads the whole vector and
// the norm's weight (16 KiB for a hidden size of 2048, from the cache after the first) and
// sums the squares: worth it for kernels of few workgroups (H200: a 1792-workgroup expert
// launch took 41 µs this way against 25 from a stored vector). So the first workgroup also
// stores the normed vector (`x_published`), and the block's later kernels read that instead.
// The elements are the norm kernels' own expression, x * (1 / sqrt(mean + eps)) * w: only the
// order of the sum of squares differs from them. One vector (T = 1); the host includes this
// file as `common/x_vectors.wgsl` for `ShaderSpec::normed_x` variants and sets the overrides.

@group(0) @binding(2) var<storage, read> x_residual: array<vec4<f32>>;         // (1, cols / 4) the residual stream
@group(0) @binding(9) var<storage, read> x_norm: array<vec4<f32>>;             // (cols / 4) the norm's weight
@group(0) @binding(10) var<storage, read_write> x_published: array<vec4<f32>>; // (1, cols / 4) the normed vector

override x_vec4s: u32 = 1u;     // cols / 4
override x_eps: f32 = 1e-5;     // the norm's epsilon
// ceil(x_vec4s / wg_size), set by the host: constant trip counts, so that a GPU's compiler
// unrolls the loops and issues a thread's loads together (H200, a loop over i < x_vec4s: each
// load waited for the one before, 10 µs more a launch than a norm launch's own time).
override x_per_thread: u32 = 1u;

var<workgroup> x: array<vec4<f32>, x_vec4s>; // the normed vector the dot loops read

// Fills `x`; the first workgroup (`first`) also stores it. Every thread calls it first, in
// uniform control flow (it has barriers).
fn prepare_x(lid: u32, first: bool) {
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < x_per_thread; j++) {
        let i = lid + j * wg_size;
        if (i < x_vec4s) {
            let v = x_residual[i];
            acc += v * v;
        }
    }
    let total = reduce_rows(lid, RowSums(acc, vec4<f32>(0.0)));
    let scale = 1.0 / sqrt(hsum(total.a) / f32(4u * x_vec4s) + x_eps);
    for (var j = 0u; j < x_per_thread; j++) {
        let i = lid + j * wg_size;
        if (i < x_vec4s) {
            let v = x_residual[i] * scale * x_norm[i];
            x[i] = v;
            if (first) {
                x_published[i] = v;
            }
        }
    }
    workgroupBarrier();
}
