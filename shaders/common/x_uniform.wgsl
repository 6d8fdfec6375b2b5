// The vectors of a matrix-vector kernel (binding 2) as a uniform buffer: the first 64 KiB of
// the tensor (WebGPU's smallest maxUniformBufferBindingSize). On CPU adapters this is
// faster: llvmpipe reads a storage buffer one lane and one component at a time, with a
// branch each, but gathers from a uniform buffer, and x is half of a dot unit's loads
// (lavapipe, 4096 x 2048 matrices, medians of 8 interleaved runs: Q4_0 2.75 -> 2.99 GB/s,
// Q4_K 2.05 -> 2.43, Q8_0 3.70 -> 4.26; Q6_K unchanged). The host binds this variant only
// where the vectors fit and the buffer holds the whole window (`GpuTensor`s are padded to
// it on such adapters).

const X_UNIFORM_VEC4S: u32 = 4096u; // 64 KiB

@group(0) @binding(2) var<uniform> x: array<vec4<f32>, X_UNIFORM_VEC4S>; // (vectors, cols / 4), the first 64 KiB

fn prepare_x(lid: u32, first: bool) {} // nothing to prepare (see common/x_normed.wgsl)
