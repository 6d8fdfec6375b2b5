use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, to_u32};
use crate::gpu::{GpuContext, GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/rope.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    row_len: u32, // n_heads * head_dim
    half: u32,    // head_dim / 2
    pos0: u32,    // position of row 0
    n_pairs: u32, // T * n_heads * half
}

/// `theta^(-2i/head_dim)` for i in 0..head_dim/2, computed exactly as
/// `reference::ops::rope` does, so the GPU's f32 angles `pos * inv_freq` are the same numbers.
pub fn rope_inv_freq(head_dim: usize, theta: f32) -> Vec<f32> {
    (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect()
}

/// The rotary frequencies of one head size and base, uploaded once per model.
pub struct RopeTable {
    pub head_dim: usize,
    pub inv_freq: GpuTensor, // (head_dim / 2)
}

impl RopeTable {
    pub fn new(ctx: &GpuContext, head_dim: usize, theta: f32) -> Result<RopeTable, GpuError> {
        if head_dim < 2 || !head_dim.is_multiple_of(2) {
            return Err(GpuError::Shape(format!("rope: head_dim {head_dim} is not even")));
        }
        let inv_freq = GpuTensor::from_f32(ctx, "rope_inv_freq", 1, head_dim / 2, &rope_inv_freq(head_dim, theta))?;
        Ok(RopeTable { head_dim, inv_freq })
    }
}

/// RoPE, NEOX style, in place. x: (T, n_heads * head_dim); row t has position pos0 + t.
pub fn rope(ops: &mut Ops<'_>, x: &GpuTensor, table: &RopeTable, pos0: usize) -> Result<(), GpuError> {
    if !x.cols.is_multiple_of(table.head_dim) {
        return Err(GpuError::Shape(format!("rope: rows of {} are not whole heads of {}", x.cols, table.head_dim)));
    }
    // Positions become f32 in the shader, exact below 2^24 like the reference's cast.
    let last = pos0 + x.rows;
    if last >= 1 << 24 {
        return Err(GpuError::Shape(format!("rope: position {last} is past 2^24")));
    }
    let n_pairs = x.len() / 2;
    let params = Params {
        row_len: to_u32(x.cols, "rope")?,
        half: (table.head_dim / 2) as u32,
        pos0: pos0 as u32,
        n_pairs: to_u32(n_pairs, "rope")?,
    };
    dispatch_elementwise(ops, "rope", n_pairs, bytemuck::bytes_of(&params), &[&x.buffer, &table.inv_freq.buffer])
}
