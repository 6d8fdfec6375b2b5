use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, to_u32};
use crate::gpu::{GpuError, Ops};

/// Mirrors `Params` in `shaders/copy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_vec4: u32, // 16-byte elements
    _pad: [u32; 3],
}

/// `dst = src` for the first `bytes` bytes (a multiple of 16), in a compute kernel: the
/// bandwidth yardstick of `lfm bench`.
pub fn copy(ops: &mut Ops<'_>, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) -> Result<(), GpuError> {
    if !bytes.is_multiple_of(16) || bytes > src.size() || bytes > dst.size() {
        return Err(GpuError::Shape(format!(
            "copy: {bytes} bytes between buffers of {} and {}",
            src.size(),
            dst.size()
        )));
    }
    let n = to_u32((bytes / 16) as usize, "copy")?;
    let params = Params { n_vec4: n, _pad: [0; 3] };
    dispatch_elementwise(ops, "copy", n as usize, bytemuck::bytes_of(&params), &[src, dst])
}
