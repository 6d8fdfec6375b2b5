//! The fused router of a mixture-of-experts layer: logits and top-k choice in one launch.

use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32, WG_SIZE};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/moe_router.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RouterParams {
    n_experts: u32,  // E
    k: u32,          // experts per token
    n_tokens: u32,   // T
    cols4: u32,      // elements per row / 4
    scale_base: u32, // word offset of the split scales
    _pad: [u32; 3],
}

/// [`super::moe_route`] of the logits `w x`, in one launch (one workgroup per token): the
/// same choice as `matvec` then `moe_route`, up to the order of the logits' sums.
/// - w: (E, C) router matrix, any GPU format, in one buffer; E <= 64
/// - bias: (E)
/// - x: (T, C)
/// - selected: (T, k) u32, k <= E (its shape says k)
/// - weights: (T, k)
pub fn moe_router(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    bias: &GpuTensor,
    x: &GpuTensor,
    selected: &GpuTensor,
    weights: &GpuTensor,
) -> Result<(), GpuError> {
    let (e, k, t) = (w.rows, selected.cols, x.rows);
    if e > WG_SIZE as usize || k == 0 || k > e {
        return Err(GpuError::Shape(format!("moe_router: top-{k} of {e} experts (at most {WG_SIZE} experts)")));
    }
    let [part] = w.parts.as_slice() else {
        return Err(GpuError::Shape(format!("moe_router: a router of {} buffers", w.parts.len())));
    };
    expect_len(bias, "moe_router: bias", 1, e)?;
    expect_len(x, "moe_router: x", t, w.cols)?;
    expect_len(selected, "moe_router: selected", t, k)?;
    expect_len(weights, "moe_router: weights", t, k)?;
    let n_tokens = to_u32(t, "moe_router tokens")?;
    let cols4 = to_u32(w.cols / 4, "moe_router")?;
    let params =
        RouterParams { n_experts: e as u32, k: k as u32, n_tokens, cols4, scale_base: part.scale_base, _pad: [0; 3] };
    let spec = ShaderSpec::quant("moe_router", w.ty);
    // At least one thread per expert for the choice (the sums go through workgroup memory
    // whatever the width, see shader.rs); GPUs get their wide few-rows workgroups, since
    // one workgroup reads the whole router.
    let wg = ops.ctx().tuning.few_rows_wg.max(WG_SIZE);
    ops.dispatch(Dispatch {
        spec,
        constants: &[("wg_size", wg as f64)],
        params: bytemuck::bytes_of(&params),
        storage: &[&part.buffer, &x.buffer, &bias.buffer, &selected.buffer, &weights.buffer],
        wide: spec.wide_weights().then_some(&part.buffer),
        workgroups: ops.grid(n_tokens, 1), // one workgroup per token
    })
}
