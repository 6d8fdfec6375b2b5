use bytemuck::{Pod, Zeroable};

use super::{dispatch_elementwise, to_u32};
use crate::gpu::{GpuError, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/repetition_penalty.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    n_tokens: u32,
    offset: u32,
    penalty: f32,
    vocab: u32,
}

/// Penalizes the first `n_tokens` ids of `tokens` in row `row` of `logits`, in place, as
/// [`crate::sampling::apply_repetition_penalty`] does. The ids must be distinct.
/// - logits: (T, V)
/// - tokens: (capacity) u32, capacity >= n_tokens
pub fn repetition_penalty(
    ops: &mut Ops<'_>,
    logits: &GpuTensor,
    row: usize,
    tokens: &GpuTensor,
    n_tokens: usize,
    penalty: f32,
) -> Result<(), GpuError> {
    if row >= logits.rows || n_tokens > tokens.len() || penalty.is_nan() || penalty <= 0.0 {
        return Err(GpuError::Shape(format!(
            "repetition_penalty: row {row} of {}, {n_tokens} of {} tokens, penalty {penalty}",
            logits.rows,
            tokens.len()
        )));
    }
    if n_tokens == 0 || penalty == 1.0 {
        return Ok(());
    }
    let params = Params {
        n_tokens: to_u32(n_tokens, "repetition_penalty")?,
        offset: to_u32(row * logits.cols, "repetition_penalty")?,
        penalty,
        vocab: to_u32(logits.cols, "repetition_penalty")?,
    };
    dispatch_elementwise(
        ops,
        "repetition_penalty",
        n_tokens,
        bytemuck::bytes_of(&params),
        &[&logits.buffer, &tokens.buffer],
    )
}
