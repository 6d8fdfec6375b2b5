use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/rms_norm.wgsl`, `add_rms_norm.wgsl` and
/// `moe_add_rms_norm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32, // elements per row
    eps: f32,
    n_rows: u32, // T
    k: u32,      // slots per token (moe_add_rms_norm), else padding
}

/// `out = x * rsqrt(mean(x^2) + eps) * weight` per row.
/// - x, out: (T, n), distinct buffers
/// - weight: (n)
pub fn rms_norm(
    ops: &mut Ops<'_>,
    x: &GpuTensor,
    weight: &GpuTensor,
    eps: f32,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    row_norm(ops, "rms_norm", x, weight, eps, 0, out, &[&x.buffer, &weight.buffer, &out.buffer])
}

/// `x += y`, then `out = x * rsqrt(mean(x^2) + eps) * weight` per row: the residual add and
/// the next block's norm in one launch.
/// - x, y, out: (T, n), distinct buffers (x is updated)
/// - weight: (n)
pub fn add_rms_norm(
    ops: &mut Ops<'_>,
    x: &GpuTensor,
    y: &GpuTensor,
    weight: &GpuTensor,
    eps: f32,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, n) = x.shape();
    expect_len(y, "add_rms_norm: y", t, n)?;
    row_norm(ops, "add_rms_norm", x, weight, eps, 0, out, &[&x.buffer, &y.buffer, &weight.buffer, &out.buffer])
}

/// `x += moe_combine(down, weights)`, then `out = x * rsqrt(mean(x^2) + eps) * weight` per
/// row: a mixture-of-experts layer's weighted sum of its experts' outputs, the residual add
/// and the next block's norm in one launch.
/// - x, out: (T, n), distinct buffers (x is updated)
/// - down: (T * k, n) expert outputs, k = weights' columns
/// - weights: (T, k) routing weights
/// - weight: (n)
#[allow(clippy::too_many_arguments)]
pub fn moe_add_rms_norm(
    ops: &mut Ops<'_>,
    x: &GpuTensor,
    down: &GpuTensor,
    weights: &GpuTensor,
    weight: &GpuTensor,
    eps: f32,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, n) = x.shape();
    let k = weights.cols;
    expect_len(weights, "moe_add_rms_norm: weights", t, k)?;
    expect_len(down, "moe_add_rms_norm: down", t * k, n)?;
    let storage = [&x.buffer, &down.buffer, &weights.buffer, &weight.buffer, &out.buffer];
    row_norm(ops, "moe_add_rms_norm", x, weight, eps, to_u32(k, "moe_add_rms_norm slots")?, out, &storage)
}

/// The dispatch of a norm kernel over x's rows (one workgroup per row).
#[allow(clippy::too_many_arguments)]
fn row_norm(
    ops: &mut Ops<'_>,
    name: &'static str,
    x: &GpuTensor,
    weight: &GpuTensor,
    eps: f32,
    k: u32,
    out: &GpuTensor,
    storage: &[&wgpu::Buffer],
) -> Result<(), GpuError> {
    let (t, n) = x.shape();
    expect_len(weight, format_args!("{name}: weight"), 1, n)?;
    expect_len(out, format_args!("{name}: out"), t, n)?;
    let n_rows = to_u32(t, "norm rows")?;
    let params = Params { n: to_u32(n, name)?, eps, n_rows, k };
    let workgroups = ops.grid(n_rows, 1); // one workgroup per row
    let wg = ops.ctx().tuning.row_wg;
    let constants = [("wg_size", wg as f64), ("per_thread", n.div_ceil(wg as usize) as f64), ("slots", k as f64)];
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain(name),
        constants: &constants[..if name == "moe_add_rms_norm" { 3 } else { 2 }],
        params: bytemuck::bytes_of(&params),
        storage,
        weights: None,
        x_norm: None,
        workgroups,
    })
}
