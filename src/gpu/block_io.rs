//! What the forward pass's blocks read and write: a block's input vector (normed by a launch
//! before it, or by its own first kernel: `Tuning::fused_norms`), the products over it, and
//! where a block's output goes (`s.y` for an add, or the residual stream itself).

use super::kernels as k;
use super::scratch::Scratch;
use super::{GpuError, GpuMatrix, GpuTensor, Ops};

/// `y = x W^T`: the matrix-vector kernel for one token; for a batch, the tiled matmul, or on
/// CPU adapters the batched matrix-vector kernel (see `Tuning::batch_matvec`).
pub(super) fn linear(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    match (x.rows, ops.ctx().tuning.batch_matvec) {
        (1, _) => k::matvec(ops, w, x, y),
        (_, true) => k::batch_matvec(ops, w, x, y),
        (_, false) => k::matmul(ops, w, x, y),
    }
}

/// A block's input: `xb`, which a norm launch wrote, or (`Tuning::fused_norms`, a decoded
/// token) the residual stream `x` with the norm that the block's first kernel takes of it
/// itself (storing the normed vector in `xb` for the kernels after it: [`Input::published`]).
/// Such a block adds its output into `x` in its last launch.
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub x: &'a GpuTensor,
    pub norm: Option<k::InputNorm<'a>>,
    /// The block adds its output into `x` itself (its input was the stream).
    pub adds_out: bool,
}

impl<'a> Input<'a> {
    pub(super) fn new(s: &'a Scratch, fused: bool, norm: &'a GpuTensor, eps: f32) -> Input<'a> {
        match fused {
            true => Input { x: &s.x, norm: Some(k::InputNorm { weight: norm, eps, out: &s.xb }), adds_out: true },
            false => Input { x: &s.xb, norm: None, adds_out: false },
        }
    }

    /// This input normed by a launch of its own, for kernels that cannot norm it.
    pub(super) fn normed(self, ops: &mut Ops<'_>) -> Result<Input<'a>, GpuError> {
        let Some(norm) = self.norm else { return Ok(self) };
        k::rms_norm(ops, self.x, norm.weight, norm.eps, norm.out)?;
        Ok(self.published())
    }

    /// The input of the kernels after the first: the normed vector it stored.
    pub(super) fn published(self) -> Input<'a> {
        match self.norm {
            Some(norm) => Input { x: norm.out, norm: None, ..self },
            None => self,
        }
    }
}

/// `y = input W^T`, the input normed in the launch where it asks for that.
pub(super) fn linear_in(ops: &mut Ops<'_>, w: &GpuMatrix, input: Input<'_>, y: &GpuTensor) -> Result<(), GpuError> {
    match input.norm {
        Some(norm) => k::matvec_normed(ops, w, input.x, norm, y),
        None => linear(ops, w, input.x, y),
    }
}

/// A block's output projection: added into the residual stream in its launch after a fused
/// input, else into `s.y` for the add that follows.
pub(super) fn project_out(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    h: &GpuTensor,
    s: &Scratch,
    input: Input<'_>,
) -> Result<(), GpuError> {
    match input.adds_out {
        true => k::matvec_add(ops, w, h, &s.x),
        false => linear(ops, w, h, &s.y),
    }
}
