//! `moe_down_add`: a decoded token's routed down projections, their weighted sum and the
//! residual add in one launch (`Tuning::fused_norms`), where `moe_matvec` then
//! `moe_add_rms_norm` are two.

use super::matvec::{matvec_constants, reads_x_uniform, workgroup_rows, ROWS};
use super::moe::expert_parts;
use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Slots a token may route to (`MAX_SLOTS` in `shaders/moe_down_add.wgsl`).
const MAX_SLOTS: usize = 8;

/// `y[t] += sum_s weights[t, s] * W_e x[t, s]` with `e = selected[t, s]`: the arithmetic of
/// [`super::moe_matvec`] then [`super::moe_add_rms_norm`]'s sum and add (slots in order, then
/// y + sum), bit for bit. Only where the stack lies in one buffer and k <= 8 ([`fits`]).
/// - w: (E * H, F), any GPU format, one part, not interleaved
/// - selected: (T, k) u32 expert ids < E; weights: (T, k)
/// - x: (T * k, F) the experts' hidden vectors
/// - y: (T, H) the residual stream, updated
pub fn moe_down_add(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    selected: &GpuTensor,
    weights: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    const KERNEL: &str = "moe_down_add";
    let (t, k) = selected.shape();
    if !fits(w, k) {
        return Err(GpuError::Shape(format!(
            "{KERNEL}: {} buffers, {k} slots (one buffer, at most {MAX_SLOTS} slots)",
            w.parts.len()
        )));
    }
    expect_len(weights, "moe_down_add: weights", t, k)?;
    let rpe = y.cols;
    let parts = expert_parts(KERNEL, w, rpe, selected, x, y, true)?;
    let [(part, params)] = &parts[..] else { unreachable!("fits: one part") };
    let tokens = to_u32(t, KERNEL)?;
    if tokens > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("{KERNEL}: {t} tokens in one dispatch")));
    }
    let full_groups = to_u32(rpe.div_ceil(ROWS as usize), KERNEL)?;
    // The threads `moe_matvec` would give the (token, slot) pairs, so the sums are the same.
    let pair_groups = full_groups.saturating_mul(to_u32(selected.len(), KERNEL)?);
    let constants = matvec_constants(ops, pair_groups, Some(w));
    let rows = workgroup_rows(ops, rpe, false, &constants);
    let constants = constants.with_rows(rows, false).with("slots", k as f64);
    let row_groups = to_u32(rpe.div_ceil(rows as usize), KERNEL)?;
    let spec = ShaderSpec::quant(KERNEL, w.ty).with_uniform_x(reads_x_uniform(ops, x));
    ops.dispatch(Dispatch {
        spec,
        constants: &constants,
        params: bytemuck::bytes_of(params),
        weights: Some(&part.store),
        storage: &[&x.buffer, &selected.buffer, &weights.buffer, &y.buffer],
        x_norm: None,
        workgroups: ops.grid(row_groups, tokens),
    })
}

/// Whether [`moe_down_add`] takes this stack for `k` slots: one buffer, not interleaved.
pub fn fits(w: &GpuMatrix, k: usize) -> bool {
    w.parts.len() == 1 && w.interleave.is_none() && (1..=MAX_SLOTS).contains(&k)
}
