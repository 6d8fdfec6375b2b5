use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, expect_len, to_u32};
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/add.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n: u32, // elements
    _pad: [u32; 3],
}

/// `x += y`, elementwise (the residual add). x and y: any shape with the same element count.
pub fn add(ops: &mut Ops<'_>, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    expect_len(y, "add: y", x.rows, x.cols)?;
    let params = Params { n: to_u32(x.len(), "add")?, _pad: [0; 3] };
    dispatch_elementwise(ops, "add", x.len(), bytemuck::bytes_of(&params), &[&x.buffer, &y.buffer])
}
