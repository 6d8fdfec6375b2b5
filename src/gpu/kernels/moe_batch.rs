//! Mixture-of-experts prefill: the (token, slot) pairs of a step are grouped by expert
//! (`moe_group`, on the GPU), then each expert's rows are dotted with up to 4 of its pairs at
//! a time (`moe_batch_matvec`), so a routed expert's weights are decoded once per 4 pairs
//! instead of once per pair; or, where the adapter's tuning says so (`Tuning::moe_matmul`),
//! sorted by expert and multiplied in tiles of 64 pairs (`super::moe_matmul`). Drop-in for
//! `moe_matvec` when T > 1:
//!
//! ```text
//! moe_group(ops, &s.selected, E, &s.items);                                  // work items
//! moe_batch_matvec(ops, &m.gate_exps, fe, &s.selected, &s.items, u, &s.gate); // (T * k, Fe)
//! ```

use bytemuck::{Pod, Zeroable};

use super::moe::{check_pair, dispatch_experts, MAX_EXPERTS};
use super::moe_matmul::dispatch_tiles;
use super::{to_u32, wg_constants, WG_SIZE};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/common/group_params.wgsl` (`moe_group`, `moe_sort`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GroupParams {
    n_slots: u32,   // T * k
    n_experts: u32, // E
    _pad: [u32; 2],
}

/// The most work items `n_slots` pairs over `n_experts` experts make: a quarter of the pairs,
/// plus one partly filled item per expert that has any.
pub fn moe_max_items(n_slots: usize, n_experts: usize) -> usize {
    n_slots.div_ceil(4) + n_experts.min(n_slots)
}

/// Rows (of 4 u32) of the `items` tensor [`moe_group`] fills for up to `n_slots` pairs: its
/// work items, or the sorted order where it sorts (whichever is longer).
pub fn moe_items_rows(n_slots: usize, n_experts: usize) -> usize {
    (1 + 2 * moe_max_items(n_slots, n_experts)).max(moe_order_len(n_slots).div_ceil(4))
}

/// `items` can hold the work items of `n_slots` pairs over `n_experts`.
fn check_items(what: &str, items: &GpuTensor, n_slots: usize, n_experts: usize) -> Result<(), GpuError> {
    let rows = moe_items_rows(n_slots, n_experts);
    if items.cols != 4 || items.rows < rows {
        return Err(GpuError::Shape(format!("{what}: items of {:?}, needs {rows} rows of 4", items.shape())));
    }
    Ok(())
}

/// Groups the pairs of `selected` by expert, up to 4 to a work item (layout in
/// `shaders/moe_group.wgsl`), or with `Tuning::moe_matmul` sorts them by expert
/// ([`moe_sort`], for the tiled products).
/// - selected: (T, k) u32 expert ids < n_experts (from `moe_router`)
/// - items: at least ([`moe_items_rows`], 4) u32
pub fn moe_group(ops: &mut Ops<'_>, selected: &GpuTensor, n_experts: usize, items: &GpuTensor) -> Result<(), GpuError> {
    let n_slots = selected.len();
    if n_experts == 0 || n_experts > WG_SIZE as usize {
        return Err(GpuError::Shape(format!("moe_group: {n_experts} experts (at most {WG_SIZE})")));
    }
    check_items("moe_group", items, n_slots, n_experts)?;
    if ops.ctx().tuning.moe_matmul {
        return moe_sort(ops, selected, n_experts, items);
    }
    let params = GroupParams { n_slots: to_u32(n_slots, "moe_group")?, n_experts: n_experts as u32, _pad: [0; 2] };
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("moe_group"),
        constants: &wg_constants(),
        params: bytemuck::bytes_of(&params),
        storage: &[&selected.buffer, &items.buffer],
        weights: None,
        x_norm: None,
        workgroups: [1, 1, 1],
    })
}

/// The header of the order [`moe_sort`] writes: (first, count) for each of up to MAX_EXPERTS
/// (`shaders/common/expert_order.wgsl`, a thread each).
const ORDER_PAIRS: usize = 2 * MAX_EXPERTS;

/// u32 values of the order [`moe_sort`] writes for `n_slots` pairs.
pub fn moe_order_len(n_slots: usize) -> usize {
    ORDER_PAIRS + n_slots
}

pub(super) fn check_order(what: &str, order: &GpuTensor, n_slots: usize) -> Result<(), GpuError> {
    if order.len() < moe_order_len(n_slots) {
        return Err(GpuError::Shape(format!(
            "{what}: an order of {} values, needs {}",
            order.len(),
            moe_order_len(n_slots)
        )));
    }
    Ok(())
}

/// Sorts the pairs of `selected` by expert (layout in `shaders/common/expert_order.wgsl`).
/// - selected: (T, k) u32 expert ids < n_experts
/// - order: at least [`moe_order_len`] u32 (any shape)
pub fn moe_sort(ops: &mut Ops<'_>, selected: &GpuTensor, n_experts: usize, order: &GpuTensor) -> Result<(), GpuError> {
    let n_slots = selected.len();
    if n_experts == 0 || n_experts > MAX_EXPERTS {
        return Err(GpuError::Shape(format!("moe_sort: {n_experts} experts (at most {MAX_EXPERTS})")));
    }
    check_order("moe_sort", order, n_slots)?;
    let params = GroupParams { n_slots: to_u32(n_slots, "moe_sort")?, n_experts: n_experts as u32, _pad: [0; 2] };
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("moe_sort"),
        constants: &[],
        params: bytemuck::bytes_of(&params),
        storage: &[&selected.buffer, &order.buffer],
        weights: None,
        x_norm: None,
        workgroups: [1, 1, 1],
    })
}

/// [`super::moe_matvec`]'s products, computed per work item of [`moe_group`] (which must have
/// grouped the same `selected`): `y[ts] = W_e x[t]` (or `x[ts]`) for the pairs ts of expert e.
/// - w: (E * rows_per_expert, C), each expert inside one part
/// - selected: (T, k), for the shape
/// - items: from [`moe_group`]
/// - x: (T, C) or (T * k, C)
/// - y: (T * k, rows_per_expert)
pub fn moe_batch_matvec(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    items: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    dispatch_items("moe_batch_matvec", ops, w, rows_per_expert, selected, items, x, y, false)
}

/// [`super::moe_gate_up`] per work item of [`moe_group`]: `y[ts] = silu(G_e x[t]) * (U_e x[t])`
/// for the pairs ts of expert e, in one launch; `gate.pairs_with(up)`.
#[allow(clippy::too_many_arguments)]
pub fn moe_batch_gate_up(
    ops: &mut Ops<'_>,
    gate: &GpuMatrix,
    up: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    items: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    check_pair("moe_batch_gate_up", gate, up)?;
    dispatch_items("moe_batch_gate_up", ops, gate, rows_per_expert, selected, items, x, y, true)
}

/// Checks the work items and records `moe_batch_matvec` over them (`gate_up`: see
/// [`dispatch_experts`]); `what` names the caller in errors.
#[allow(clippy::too_many_arguments)]
fn dispatch_items(
    what: &str,
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    items: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
    gate_up: bool,
) -> Result<(), GpuError> {
    if ops.ctx().tuning.moe_matmul {
        return dispatch_tiles(what, ops, w, rows_per_expert, selected, items, x, y, gate_up);
    }
    let n_experts = w.rows / rows_per_expert.max(1);
    check_items(what, items, selected.len(), n_experts)?;
    let z = to_u32(moe_max_items(selected.len(), n_experts), what)?;
    dispatch_experts(ops, "moe_batch_matvec", z, w, rows_per_expert, selected, items, x, y, gate_up)
}
