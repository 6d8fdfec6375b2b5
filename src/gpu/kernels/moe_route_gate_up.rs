//! `moe_route_gate_up`: a decoded token's routing and its experts' silu(gate) * up in one
//! launch (GPUs, `Tuning::route_in_gate_up`), where `moe_route` then `moe_gate_up` are two.

use bytemuck::{Pod, Zeroable};

use super::matvec::{matvec_constants, reads_x_uniform, ROWS};
use super::moe::{check_pair, check_route_shape, expert_parts, MatvecParams};
use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/moe_route_gate_up.wgsl`: the expert kernels' own, then the
/// routing's.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    experts: MatvecParams, // as `moe_matvec` takes them (x_per_slot 0)
    n_routed: u32,         // E, the router's experts
    store: u32,            // 1: this dispatch writes selected and weights
    _pad: [u32; 2],
}

/// What [`super::moe_route`] then [`super::moe_gate_up`] compute, in one launch: each
/// workgroup routes its token from the router's logits, then takes 4 rows of its slot's
/// expert; `selected` and `weights` are written too, for the down projection and the sum.
/// - gate, up: the halves of one interleaved pair (`gate.pairs_with(up)`), (E * rows_per_expert, C) each
/// - logits: (T, E) router logits, E <= [`super::MAX_EXPERTS`]; bias: (E)
/// - selected: (T, k) u32, k <= E (its shape says k); weights: (T, k)
/// - x: (T, C); y: (T * k, rows_per_expert)
#[allow(clippy::too_many_arguments)]
pub fn moe_route_gate_up(
    ops: &mut Ops<'_>,
    gate: &GpuMatrix,
    up: &GpuMatrix,
    rows_per_expert: usize,
    logits: &GpuTensor,
    bias: &GpuTensor,
    selected: &GpuTensor,
    weights: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    const KERNEL: &str = "moe_route_gate_up";
    check_pair(KERNEL, gate, up)?;
    let (t, k) = selected.shape();
    let e = gate.rows / rows_per_expert.max(1);
    check_route_shape(KERNEL, e, k)?;
    expect_len(logits, "moe_route_gate_up: logits", t, e)?;
    expect_len(bias, "moe_route_gate_up: bias", 1, e)?;
    expect_len(weights, "moe_route_gate_up: weights", t, k)?;
    expect_len(x, "moe_route_gate_up: x", t, gate.cols)?;
    let z = to_u32(selected.len(), KERNEL)?;
    if z > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("{KERNEL}: {z} (token, slot) pairs in one dispatch")));
    }
    // ROWS rows a workgroup whatever `Tuning::matvec_rows` says: each workgroup also ranks the
    // token's experts, which more, smaller workgroups would repeat (on an H200, 2 rows a
    // workgroup took 0.92 ms a token here against 0.52 with 8).
    let row_groups = to_u32(rows_per_expert.div_ceil(ROWS as usize / 2), KERNEL)?;
    let workgroups = ops.grid(row_groups, z);
    let constants = matvec_constants(ops, row_groups.saturating_mul(z), Some(gate)).with_rows(ROWS, true);
    let spec = ShaderSpec::quant(KERNEL, gate.ty).with_uniform_x(reads_x_uniform(ops, x));
    for (i, (part, experts)) in
        expert_parts(KERNEL, gate, rows_per_expert, selected, x, y, false)?.into_iter().enumerate()
    {
        let params = Params { experts, n_routed: e as u32, store: u32::from(i == 0), _pad: [0; 2] };
        let storage = [&x.buffer, &logits.buffer, &bias.buffer, &selected.buffer, &weights.buffer, &y.buffer];
        ops.dispatch(Dispatch {
            spec,
            weights: Some(&part.store),
            constants: &constants,
            params: bytemuck::bytes_of(&params),
            storage: &storage,
            x_norm: None,
            workgroups,
        })?;
    }
    Ok(())
}
