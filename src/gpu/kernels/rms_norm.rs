use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32, wg_constants};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/rms_norm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32, // elements per row
    eps: f32,
    n_rows: u32, // T
    _pad: u32,
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
    let (t, n) = x.shape();
    expect_len(weight, "rms_norm: weight", 1, n)?;
    expect_len(out, "rms_norm: out", t, n)?;
    let n_rows = to_u32(t, "rms_norm rows")?;
    let params = Params { n: to_u32(n, "rms_norm")?, eps, n_rows, _pad: 0 };
    let workgroups = ops.grid(n_rows, 1); // one workgroup per row
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("rms_norm"),
        constants: &wg_constants(),
        params: bytemuck::bytes_of(&params),
        storage: &[&x.buffer, &weight.buffer, &out.buffer],
        wide: None,
        workgroups,
    })
}
