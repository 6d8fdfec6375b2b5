//! The mixture-of-experts kernels. Routing stays on the GPU: `moe_route` writes the selected
//! experts, which `moe_matvec` reads, so no step waits for the host (CPU adapters compute the
//! router's logits and route in one launch, `moe_router`). One MoE FFN of T tokens
//! with k experts each (`m`: the layer's weights, `s`: scratch tensors):
//!
//! ```text
//! matvec(ops, &m.router, u, &s.router_logits);                                   // (T, E)
//! moe_route(ops, &s.router_logits, &m.expert_bias, &s.selected, &s.weights);     // (T, k) each
//! moe_matvec(ops, &m.gate_exps, fe, &s.selected, u, &s.gate);                    // (T * k, Fe)
//! moe_matvec(ops, &m.up_exps, fe, &s.selected, u, &s.up);                        // (T * k, Fe)
//! swiglu(ops, &s.gate, &s.up, &s.act);                                           // (T * k, Fe)
//! moe_matvec(ops, &m.down_exps, h, &s.selected, &s.act, &s.down);                // (T * k, H)
//! moe_combine(ops, &s.down, &s.weights, &s.out);                                 // (T, H)
//! ```
//!
//! Where gate and up are interleaved in shared buffers (`gpu::pairing`, done at load), the
//! three launches in the middle are one: `moe_gate_up(ops, &m.gate_exps, &m.up_exps, fe,
//! &s.selected, u, &s.act)`.

use bytemuck::{Pod, Zeroable};

use super::matvec::{matvec_constants, reads_x_uniform, workgroup_rows, ROWS};
use super::{dispatch_elementwise, expect_len, to_u32, wg_constants};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, MatrixPart, Ops};

/// Mirrors `Params` in `shaders/moe_route.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RouteParams {
    n_experts: u32, // E
    k: u32,         // experts per token
    n_tokens: u32,  // T
    _pad: u32,
}

/// Top-k routing of router logits as `reference::ops::moe_route`: scores `sigmoid(logits)`, the
/// k largest `score + bias` chosen best first (ties to the lower expert), weights
/// `score / (sum + 1e-6)`. (CPU adapters compute the logits in the same launch: [`moe_router`].)
/// - logits: (T, E), E <= [`MAX_EXPERTS`]
/// - bias: (E)
/// - selected: (T, k) u32, k <= E (its shape says k)
/// - weights: (T, k)
pub fn moe_route(
    ops: &mut Ops<'_>,
    logits: &GpuTensor,
    bias: &GpuTensor,
    selected: &GpuTensor,
    weights: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, e) = logits.shape();
    let k = selected.cols;
    check_route_shape("moe_route", e, k)?;
    expect_len(bias, "moe_route: bias", 1, e)?;
    expect_len(selected, "moe_route: selected", t, k)?;
    expect_len(weights, "moe_route: weights", t, k)?;
    let n_tokens = to_u32(t, "moe_route tokens")?;
    let params = RouteParams { n_experts: e as u32, k: k as u32, n_tokens, _pad: 0 };
    let workgroups = ops.grid(n_tokens, 1); // one workgroup per token
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("moe_route"),
        constants: &wg_constants(),
        params: bytemuck::bytes_of(&params),
        storage: &[&logits.buffer, &bias.buffer, &selected.buffer, &weights.buffer],
        weights: None,
        x_norm: None,
        workgroups,
    })
}

/// Top-k of E experts: at most [`MAX_EXPERTS`] experts, k from 1 to E.
pub(super) fn check_route_shape(kernel: &str, e: usize, k: usize) -> Result<(), GpuError> {
    if e > MAX_EXPERTS || k == 0 || k > e {
        return Err(GpuError::Shape(format!("{kernel}: top-{k} of {e} experts (at most {MAX_EXPERTS} experts)")));
    }
    Ok(())
}

/// Mirrors `Params` in `shaders/moe_router.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RouterParams {
    cols4: u32,      // elements per row / 4
    n_experts: u32,  // E
    k: u32,          // experts per token
    n_tokens: u32,   // T
    scale_base: u32, // word offset of the router's split scales
    _pad: [u32; 3],
}

/// Most experts [`moe_route`] and [`moe_router`] route among (`MAX_EXPERTS` in
/// `shaders/common/top_k_route.wgsl`).
pub const MAX_EXPERTS: usize = 64;

/// The router's logits `x W^T` and [`moe_route`]'s top-k routing in one launch (CPU adapters,
/// `Tuning::fused_router`).
/// - router: (E, H), any GPU format, one part; E <= [`MAX_EXPERTS`]
/// - x: (T, H)
/// - bias: (E)
/// - selected: (T, k) u32, k <= E (its shape says k)
/// - weights: (T, k)
pub fn moe_router(
    ops: &mut Ops<'_>,
    router: &GpuMatrix,
    x: &GpuTensor,
    bias: &GpuTensor,
    selected: &GpuTensor,
    weights: &GpuTensor,
) -> Result<(), GpuError> {
    let (t, e, k) = (x.rows, router.rows, selected.cols);
    check_route_shape("moe_router", e, k)?;
    router.check_not_interleaved("moe_router")?;
    let [part] = &router.parts[..] else {
        return Err(GpuError::Shape(format!("moe_router: a router in {} buffers", router.parts.len())));
    };
    expect_len(x, "moe_router: x", t, router.cols)?;
    expect_len(bias, "moe_router: bias", 1, e)?;
    expect_len(selected, "moe_router: selected", t, k)?;
    expect_len(weights, "moe_router: weights", t, k)?;
    let n_tokens = to_u32(t, "moe_router tokens")?;
    let params = RouterParams {
        cols4: (router.cols / 4) as u32,
        n_experts: e as u32,
        k: k as u32,
        n_tokens,
        scale_base: part.scale_base,
        _pad: [0; 3],
    };
    let spec = ShaderSpec::quant("moe_router", router.ty).with_uniform_x(reads_x_uniform(ops, x));
    // One workgroup of the few-rows width per token (E rows are few).
    let constants = matvec_constants(ops, 1, Some(router));
    let workgroups = ops.grid(n_tokens, 1);
    ops.dispatch(Dispatch {
        spec,
        constants: &constants,
        params: bytemuck::bytes_of(&params),
        weights: Some(&part.store),
        storage: &[&x.buffer, &bias.buffer, &selected.buffer, &weights.buffer],
        x_norm: None,
        workgroups,
    })
}

/// Mirrors `Params` in `shaders/common/expert_params.wgsl` (`moe_matvec`, `moe_batch_matvec`,
/// `moe_down_add`, `moe_matmul`).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct MatvecParams {
    cols4: u32,                // elements per row / 4
    rows_per_expert: u32,      // rows of one expert
    expert0: u32,              // first expert of the part
    pub(super) n_experts: u32, // experts in the part
    k: u32,                    // slots per token
    x_per_slot: u32,           // 1: x rows are (token, slot) pairs; 0: tokens
    scale_base: u32,           // word offset of the part's split scales
    expert_stride: u32,        // buffer rows from one expert to the next (2 * rows_per_expert when interleaved)
    row_offset: u32,           // buffer row of the part's first expert (its half of a pair)
    _pad: [u32; 3],
}

/// `y[t, s] = W_e x[t]` (or `x[t, s]`) with `e = selected[t, s]` and `W_e` rows
/// `e * rows_per_expert ..` of a stacked expert matrix; only selected experts are read.
/// - w: (E * rows_per_expert, C), any GPU format, each expert inside one part
///   ([`GpuMatrix::new_grouped`])
/// - selected: (T, k) u32 expert ids (from [`moe_route`] or [`moe_router`]); ids >= E leave their y rows as they were
/// - x: (T, C), shared by a token's slots (gate, up), or (T * k, C), one per slot (down)
/// - y: (T * k, rows_per_expert)
pub fn moe_matvec(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    let slots = to_u32(selected.len(), "moe_matvec slots")?;
    dispatch_experts(ops, "moe_matvec", slots, w, rows_per_expert, selected, selected, x, y, false)
}

/// `y[t, s] = silu(G_e x[t]) * (U_e x[t])` with `e = selected[t, s]`, in one launch: what
/// `moe_matvec` of `gate` and of `up` then `swiglu` compute, where the two are the halves of
/// one interleaved pair ([`crate::gpu::pairing::interleave_experts`], `gate.pairs_with(up)`).
/// - gate, up: (E * rows_per_expert, C) each
/// - selected: (T, k); x: (T, C); y: (T * k, rows_per_expert)
pub fn moe_gate_up(
    ops: &mut Ops<'_>,
    gate: &GpuMatrix,
    up: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    check_pair("moe_gate_up", gate, up)?;
    let slots = to_u32(selected.len(), "moe_gate_up slots")?;
    dispatch_experts(ops, "moe_matvec", slots, gate, rows_per_expert, selected, selected, x, y, true)
}

/// An error unless `gate` and `up` are the two halves of one interleaved pair.
pub(super) fn check_pair(kernel: &str, gate: &GpuMatrix, up: &GpuMatrix) -> Result<(), GpuError> {
    if gate.pairs_with(up) {
        Ok(())
    } else {
        Err(GpuError::Shape(format!("{kernel}: gate and up are not an interleaved pair (pairing::interleave_experts)")))
    }
}

/// Records `kernel` (`moe_matvec` or `moe_batch_matvec`) over each part of `w`: workgroups of
/// ROWS rows of one expert, `z` of them per row group (pairs or work items); `x` is bound at
/// binding 2 (a uniform window where [`reads_x_uniform`] says so, `moe_matvec` only),
/// `routing` (`selected` or the work items) at binding 3. With `gate_up`, `w` is the gate half
/// of an interleaved pair (checked by the caller) and y gets silu(gate) * up.
#[allow(clippy::too_many_arguments)]
pub(super) fn dispatch_experts(
    ops: &mut Ops<'_>,
    kernel: &'static str,
    z: u32,
    w: &GpuMatrix,
    rows_per_expert: usize,
    selected: &GpuTensor,
    routing: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
    gate_up: bool,
) -> Result<(), GpuError> {
    if z > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("{kernel}: {z} (token, slot) pairs or work items in one dispatch")));
    }
    let decode = kernel == "moe_matvec";
    // The threads as for ROWS rows a workgroup, so `moe_down_add` sums as this does.
    let full_groups = to_u32(rows_per_expert.div_ceil(if gate_up { ROWS / 2 } else { ROWS } as usize), kernel)?;
    let constants = matvec_constants(ops, full_groups.saturating_mul(z), decode.then_some(w));
    let rows = if decode { workgroup_rows(ops, rows_per_expert, gate_up, &constants) } else { ROWS };
    let constants = constants.with_rows(rows, gate_up);
    // A workgroup writes `rows` rows of y, or half as many (each from a gate row and an up row).
    let outs = if gate_up { rows / 2 } else { rows } as usize;
    let row_groups = to_u32(rows_per_expert.div_ceil(outs), kernel)?;
    let workgroups = ops.grid(row_groups, z);
    let uniform_x = decode && reads_x_uniform(ops, x);
    for (part, params) in expert_parts(kernel, w, rows_per_expert, selected, x, y, false)? {
        let spec = ShaderSpec::quant(kernel, w.ty).with_uniform_x(uniform_x);
        ops.dispatch(Dispatch {
            spec,
            constants: &constants,
            params: bytemuck::bytes_of(&params),
            weights: Some(&part.store),
            storage: &[&x.buffer, &routing.buffer, &y.buffer],
            x_norm: None,
            workgroups,
        })?;
    }
    Ok(())
}

/// The shape checks of the expert kernels and their `Params` for each part of `w`; `y` has
/// a row per (token, slot) pair, or with `y_per_token` one per token (`moe_down_add`).
pub(super) fn expert_parts<'w>(
    what: &str,
    w: &'w GpuMatrix,
    rpe: usize,
    selected: &GpuTensor,
    x: &GpuTensor,
    y: &GpuTensor,
    y_per_token: bool,
) -> Result<Vec<(&'w MatrixPart, MatvecParams)>, GpuError> {
    let (t, k) = selected.shape();
    if rpe == 0 || !w.rows.is_multiple_of(rpe) {
        return Err(GpuError::Shape(format!("{what}: {} rows are not whole experts of {rpe}", w.rows)));
    }
    let x_per_slot = if x.len() == t * w.cols {
        0
    } else {
        expect_len(x, format!("{what}: x"), t * k, w.cols)?;
        1
    };
    expect_len(y, format!("{what}: y"), if y_per_token { t } else { t * k }, rpe)?;
    // Buffer rows an expert takes, and where this matrix's rows start among them.
    let (expert_stride, row_offset) = match w.interleave {
        None => (rpe, 0),
        Some(i) if i.rows_per_expert == rpe => (2 * rpe, i.offset),
        Some(i) => {
            return Err(GpuError::Shape(format!("{what}: experts of {rpe} rows, interleaved as {}", i.rows_per_expert)))
        }
    };
    let mut out = Vec::new();
    for part in &w.parts {
        if !part.first_row.is_multiple_of(rpe) || !part.rows.is_multiple_of(rpe) {
            return Err(GpuError::Shape(format!(
                "{what}: a buffer cuts an expert of {rpe} rows (upload with GpuMatrix::new_grouped)"
            )));
        }
        let params = MatvecParams {
            cols4: to_u32(w.cols / 4, what)?,
            rows_per_expert: to_u32(rpe, what)?,
            expert0: to_u32(part.first_row / rpe, what)?,
            n_experts: to_u32(part.rows / rpe, what)?,
            k: to_u32(k, what)?,
            x_per_slot,
            scale_base: part.scale_base,
            expert_stride: to_u32(expert_stride, what)?,
            row_offset: to_u32(row_offset, what)?,
            _pad: [0; 3],
        };
        out.push((part, params));
    }
    Ok(out)
}

/// Mirrors `Params` in `shaders/moe_combine.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CombineParams {
    n: u32,       // elements per row
    k: u32,       // slots per token
    n_units: u32, // T * n
    _pad: u32,
}

/// `out[t] = sum_s weights[t, s] * down[t, s]`, slots in order.
/// - down: (T * k, H)
/// - weights: (T, k)
/// - out: (T, H)
pub fn moe_combine(ops: &mut Ops<'_>, down: &GpuTensor, weights: &GpuTensor, out: &GpuTensor) -> Result<(), GpuError> {
    let (t, k) = weights.shape();
    let h = out.cols;
    expect_len(out, "moe_combine: out", t, h)?;
    expect_len(down, "moe_combine: down", t * k, h)?;
    let params = CombineParams {
        n: to_u32(h, "moe_combine")?,
        k: to_u32(k, "moe_combine")?,
        n_units: to_u32(t * h, "moe_combine")?,
        _pad: 0,
    };
    dispatch_elementwise(
        ops,
        "moe_combine",
        t * h,
        bytemuck::bytes_of(&params),
        &[&down.buffer, &weights.buffer, &out.buffer],
    )
}
