//! The RMS norm a decode matrix-vector kernel takes of its own vector
//! (`shaders/common/x_normed.wgsl`, [`ShaderSpec::normed_x`]): the kernel is given the
//! residual stream and the norm's weight, and every workgroup norms the vector into workgroup
//! memory before its dot loop, where `rms_norm` would be a launch of its own on the token's
//! critical path (`Tuning::fused_norms`); the first workgroup stores the normed vector for the
//! kernels after it.

use super::expect_len;
use super::matvec::MatvecConstants;
use crate::gpu::{GpuContext, GpuError, GpuTensor, Ops};

/// Bytes of workgroup memory a normed kernel keeps beside its vector: the row sums of
/// common/reduce_shared.wgsl (32 bytes a thread) and a margin for small arrays (the routing's).
const OTHER_BYTES_PER_THREAD: u64 = 32;
const MARGIN_BYTES: u64 = 1024;

/// The norm a kernel applies to its input vector itself.
#[derive(Clone, Copy)]
pub struct InputNorm<'a> {
    /// (C): the norm's weight.
    pub weight: &'a GpuTensor,
    pub eps: f32,
    /// (1, C): where the normed vector is stored (what `rms_norm` would write), for the
    /// block's later kernels; not the kernel's input or output.
    pub out: &'a GpuTensor,
}

impl<'a> InputNorm<'a> {
    /// The buffers of bindings 9 and 10 ([`crate::gpu::ops::Dispatch::x_norm`]).
    pub(crate) fn buffers(&self) -> (&'a wgpu::Buffer, &'a wgpu::Buffer) {
        (&self.weight.buffer, &self.out.buffer)
    }
}

/// A matrix-vector kernel's overrides `constants` with those of common/x_normed.wgsl where
/// `norm` is given: checks that `x` is one vector of `cols` and the weight `cols` long, and
/// narrows a wide workgroup (a few-row product's) to the adapter's matvec width where the
/// vector would not fit beside its sums.
pub(crate) fn with_input_norm(
    ops: &Ops<'_>,
    kernel: &str,
    norm: Option<InputNorm<'_>>,
    x: &GpuTensor,
    cols: usize,
    mut constants: MatvecConstants,
) -> Result<MatvecConstants, GpuError> {
    let Some(norm) = norm else { return Ok(constants) };
    expect_len(x, format_args!("{kernel}: a normed x (one vector)"), 1, cols)?;
    expect_len(norm.weight, format_args!("{kernel}: norm weight"), 1, cols)?;
    expect_len(norm.out, format_args!("{kernel}: normed vector"), 1, cols)?;
    if norm.out.buffer == x.buffer || norm.out.buffer == norm.weight.buffer {
        return Err(GpuError::Shape(format!("{kernel}: the normed vector over its input")));
    }
    if !input_norm_fits(ops.ctx(), cols, constants.wg()) {
        constants.set_wg(ops.ctx().tuning.matvec_wg);
    }
    if !input_norm_fits(ops.ctx(), cols, constants.wg()) {
        return Err(GpuError::Shape(format!("{kernel}: a normed vector of {cols} in workgroup memory")));
    }
    let per_thread = (cols / 4).div_ceil(constants.wg() as usize);
    Ok(constants
        .with("x_vec4s", (cols / 4) as f64)
        .with("x_eps", f64::from(norm.eps))
        .with("x_per_thread", per_thread as f64))
}

/// Whether a normed kernel of `wg` threads holds a vector of `cols` in this device's
/// workgroup memory.
pub fn input_norm_fits(ctx: &GpuContext, cols: usize, wg: u32) -> bool {
    let bytes = 4 * cols as u64 + OTHER_BYTES_PER_THREAD * u64::from(wg) + MARGIN_BYTES;
    cols.is_multiple_of(4) && bytes <= u64::from(ctx.limits.max_compute_workgroup_storage_size)
}
