use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, expect_len, to_u32};
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/swiglu.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32, // elements
    _pad: [u32; 3],
}

/// `out = silu(gate) * up`, elementwise. gate, up, out: (T, F); out must be another buffer.
pub fn swiglu(ops: &mut Ops<'_>, gate: &GpuTensor, up: &GpuTensor, out: &GpuTensor) -> Result<(), GpuError> {
    expect_len(up, "swiglu: up", gate.rows, gate.cols)?;
    expect_len(out, "swiglu: out", gate.rows, gate.cols)?;
    let params = Params { n: to_u32(gate.len(), "swiglu")?, _pad: [0; 3] };
    dispatch_elementwise(
        ops,
        "swiglu",
        gate.len(),
        bytemuck::bytes_of(&params),
        &[&gate.buffer, &up.buffer, &out.buffer],
    )
}
