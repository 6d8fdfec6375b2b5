//! RoPE's rotary frequencies, for `qk_norm_rope_store` (which ropes q and k as it norms them).

use crate::gpu::{GpuContext, GpuError, GpuTensor};

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
