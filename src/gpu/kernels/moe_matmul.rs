//! Mixture-of-experts prefill as tiled matrix products (`Tuning::moe_matmul`): the step's
//! (token, slot) pairs are sorted by expert on the GPU (`moe_sort`), then each expert's pairs
//! are the tokens of 64 x 64 tiles (`moe_matmul`, `matmul_wide`'s tile), so a routed expert's
//! weights are decoded once per 64 of its pairs. `moe_group` and the `moe_batch_*` kernels
//! take this path where the tuning says so; directly:
//!
//! ```text
//! moe_sort(ops, &s.selected, E, &s.items);                                  // pairs by expert
//! moe_matmul(ops, &m.down_exps, h, &s.selected, &s.items, &s.hidden, &s.down); // (T * k, H)
//! ```

use super::moe::{check_pair, expert_parts, MAX_EXPERTS};
use super::moe_batch::check_order;
use super::to_u32;
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Pairs and weight rows of a `moe_matmul` tile (`TILE` in the shader).
const TILE: usize = 64;

/// `y[ts] = W_e x[t]` (or `x[ts]`) for every pair ts of every expert e, in tiles of the
/// expert's pairs; `order` from [`super::moe_sort`] of the same `selected`.
/// - w: (E * rows_per_expert, C), each expert inside one part
/// - selected: (T, k), for the shape
/// - x: (T, C) or (T * k, C)
/// - y: (T * k, rows_per_expert)
pub fn moe_matmul(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    order: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    dispatch_tiles("moe_matmul", ops, w, rows_per_expert, selected, order, x, y, false)
}

/// [`moe_matmul`] of an interleaved gate and up pair: `y[ts] = silu(G_e x[t]) * (U_e x[t])`.
#[allow(clippy::too_many_arguments)]
pub fn moe_matmul_gate_up(
    ops: &mut Ops<'_>,
    gate: &GpuMatrix,
    up: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    order: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    check_pair("moe_matmul_gate_up", gate, up)?;
    dispatch_tiles("moe_matmul_gate_up", ops, gate, rows_per_expert, selected, order, x, y, true)
}

/// Records `moe_matmul` over each part of `w` (`gate_up`: `w` is the gate half of an
/// interleaved pair, checked by the caller).
#[allow(clippy::too_many_arguments)]
pub(super) fn dispatch_tiles(
    what: &str,
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    order: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
    gate_up: bool,
) -> Result<(), GpuError> {
    let (t, _) = selected.shape();
    check_order(what, order, selected.len())?;
    if w.rows / rows_per_expert.max(1) > MAX_EXPERTS {
        return Err(GpuError::Shape(format!("{what}: more than {MAX_EXPERTS} experts")));
    }
    let outs = if gate_up { TILE / 2 } else { TILE }; // rows of y a tile writes
    let row_tiles = to_u32(rows_per_expert.div_ceil(outs), what)?;
    // An expert is chosen at most once a token: at most T pairs each.
    let pair_tiles = to_u32(t.div_ceil(TILE), what)?;
    let max = ops.ctx().limits.max_compute_workgroups_per_dimension;
    if row_tiles > max || pair_tiles > max {
        return Err(GpuError::Shape(format!("{what}: {t} tokens x {rows_per_expert} rows do not fit one dispatch")));
    }
    let paired = [("paired_rows", 1.0)];
    let constants: &[(&str, f64)] = if gate_up { &paired } else { &[] };
    for (part, params) in expert_parts(what, w, rows_per_expert, selected, x, y, false)? {
        ops.dispatch(Dispatch {
            spec: ShaderSpec::quant("moe_matmul", w.ty),
            constants,
            params: bytemuck::bytes_of(&params),
            weights: Some(&part.store),
            storage: &[&x.buffer, &order.buffer, &y.buffer],
            x_norm: None,
            workgroups: [row_tiles, pair_tiles, params.n_experts],
        })?;
    }
    Ok(())
}
