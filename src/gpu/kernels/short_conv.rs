use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32, WG_SIZE};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/short_conv.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    hidden: u32,        // H
    n_tokens: u32,      // T
    chunk: u32,         // positions per thread
    n_chan_groups: u32, // ceil(H / WG_SIZE)
}

/// Positions per thread: enough work per thread at prefill, and T / CHUNK workgroup rows of
/// parallelism. The shader needs chunk >= L - 1.
const CHUNK: usize = 16;

/// The double-gated short convolution, one dispatch: `out = C * conv(B * x)` with the conv
/// causal and depthwise over time, continuing from `state`, which is updated in place to the
/// last L-1 values of `B * x` (oldest first; with T < L-1 it keeps some of its old values).
/// - bcx: (T, 3H), B | C | x per row (in_proj's output)
/// - kernel: (H, L), L >= 2, tap L-1 on the current token
/// - state: (L-1, H), read and written
/// - out: (T, H), another buffer than bcx
pub fn short_conv(
    ops: &mut Ops<'_>,
    bcx: &GpuTensor,
    kernel: &GpuTensor,
    state: &GpuTensor,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, h) = (bcx.rows, bcx.cols / 3);
    expect_len(bcx, "short_conv: bcx", t, 3 * h)?;
    let taps = kernel.len().checked_div(h).unwrap_or(0);
    if taps < 2 {
        return Err(GpuError::Shape(format!("short_conv: a kernel of {} values for {h} channels", kernel.len())));
    }
    expect_len(kernel, "short_conv: kernel", h, taps)?;
    expect_len(state, "short_conv: state", taps - 1, h)?;
    expect_len(out, "short_conv: out", t, h)?;
    let chunk = CHUNK.max(taps - 1);
    let n_chan_groups = h.div_ceil(WG_SIZE as usize);
    let params = Params {
        hidden: to_u32(h, "short_conv")?,
        n_tokens: to_u32(t, "short_conv")?,
        chunk: chunk as u32,
        n_chan_groups: n_chan_groups as u32,
    };
    let groups = to_u32(n_chan_groups * t.div_ceil(chunk), "short_conv workgroups")?;
    let workgroups = ops.grid(groups, 1);
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("short_conv"),
        constants: &[("wg_size", WG_SIZE as f64), ("taps", taps as f64)],
        params: bytemuck::bytes_of(&params),
        storage: &[&bcx.buffer, &kernel.buffer, &state.buffer, &out.buffer],
        weights: None,
        x_norm: None,
        workgroups,
    })
}
