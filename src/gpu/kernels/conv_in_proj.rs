//! `conv_in_proj`: a decoded token's in_proj product with the short convolution in its
//! epilogue, one launch where [`super::matvec`] then [`super::short_conv`] are two.

use bytemuck::{Pod, Zeroable};

use super::input_norm::{with_input_norm, InputNorm};
use super::matvec::{matvec_constants, reads_x_uniform, ROWS};
use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/conv_in_proj.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    cols4: u32,      // elements per row / 4
    hidden: u32,     // H
    scale_base: u32, // word offset of in_proj's split scales
    _pad: u32,
}

/// `out = C * conv(B * x)` for one token, with `[B | C | x] = in_proj u`: what
/// `matvec(in_proj, u)` then `short_conv` compute (the same sums), `state` updated the same
/// way. Only where in_proj lies in one buffer ([`fits`]). With `norm`, u is the residual
/// stream, normed by the kernel ([`super::matvec_normed`]).
/// - in_proj: (3H, C), any GPU format, one part
/// - u: (1, C)
/// - kernel: (H, L), L >= 2; state: (L-1, H), read and written
/// - out: (1, H)
pub fn conv_in_proj(
    ops: &mut Ops<'_>,
    in_proj: &GpuMatrix,
    u: &GpuTensor,
    norm: Option<InputNorm<'_>>,
    kernel: &GpuTensor,
    state: &GpuTensor,
    out: &GpuTensor,
) -> Result<(), GpuError> {
    const KERNEL: &str = "conv_in_proj";
    let h = in_proj.rows / 3;
    if !fits(in_proj) || u.rows != 1 {
        return Err(GpuError::Shape(format!(
            "{KERNEL}: in_proj of {} rows in {} buffers, {} tokens (one buffer of 3H rows, one token)",
            in_proj.rows,
            in_proj.parts.len(),
            u.rows
        )));
    }
    let taps = kernel.len().checked_div(h).unwrap_or(0);
    if taps < 2 {
        return Err(GpuError::Shape(format!("{KERNEL}: a kernel of {} values for {h} channels", kernel.len())));
    }
    expect_len(kernel, "conv_in_proj: kernel", h, taps)?;
    expect_len(state, "conv_in_proj: state", taps - 1, h)?;
    expect_len(out, "conv_in_proj: out", 1, h)?;
    expect_len(u, "conv_in_proj: u", 1, in_proj.cols)?;
    let part = &in_proj.parts[0];
    let params = Params {
        cols4: to_u32(in_proj.cols / 4, KERNEL)?,
        hidden: to_u32(h, KERNEL)?,
        scale_base: part.scale_base,
        _pad: 0,
    };
    let channels = ops.ctx().tuning.conv_channels;
    let groups = to_u32(h.div_ceil(channels), KERNEL)?;
    // The threads `matvec` would give in_proj's 3H rows, so the sums are the same.
    let matvec_groups = to_u32(in_proj.rows.div_ceil(ROWS as usize), KERNEL)?;
    let mut constants =
        matvec_constants(ops, matvec_groups, Some(in_proj)).with("taps", taps as f64).with("channels", channels as f64);
    if channels == 1 {
        constants = constants.with_rows(4, false); // B, C, x, x
    }
    let constants = with_input_norm(ops, KERNEL, norm, u, in_proj.cols, constants)?;
    let spec = ShaderSpec::quant(KERNEL, in_proj.ty)
        .with_uniform_x(norm.is_none() && reads_x_uniform(ops, u))
        .with_normed_x(norm.is_some());
    ops.dispatch(Dispatch {
        spec,
        constants: &constants,
        params: bytemuck::bytes_of(&params),
        weights: Some(&part.store),
        storage: &[&u.buffer, &kernel.buffer, &state.buffer, &out.buffer],
        x_norm: norm.map(|n| n.buffers()),
        workgroups: ops.grid(groups, 1),
    })
}

/// Whether [`conv_in_proj`] takes this in_proj: one buffer, 3H rows, not interleaved.
pub fn fits(in_proj: &GpuMatrix) -> bool {
    in_proj.parts.len() == 1 && in_proj.rows.is_multiple_of(3) && in_proj.rows > 0 && in_proj.interleave.is_none()
}
