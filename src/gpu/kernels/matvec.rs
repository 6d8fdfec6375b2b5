use bytemuck::{Pod, Zeroable};

use super::input_norm::{with_input_norm, InputNorm};
use super::moe::check_pair;
use super::{row_spans, to_u32, RowSpan};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::{ShaderSpec, SCALE_CHUNK_TYPES, X_UNIFORM_BYTES};
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` (`shaders/common/row_span_params.wgsl`) of `matvec` and `batch_matvec`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    span: RowSpan, // cols4 .. scale_base
    n_tokens: u32, // T (batch_matvec)
    _pad: u32,
}

/// Rows per workgroup (`ROWS` in common/dot_rows.wgsl: two vec4 accumulators).
pub(crate) const ROWS: u32 = 8;

/// `y = x W^T` over the whole matrix (decode: T is 1 or a few; prefill wants a tiled matmul).
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn matvec(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    matvec_rows(ops, w, 0, w.rows, x, y)
}

/// `y = x W[first_row .. first_row + n_rows]^T`: a slice of rows, e.g. one expert of a
/// stacked `(E * rows, C)` matrix. The weights read are only those rows.
/// - x: (T, C)
/// - y: (T, n_rows)
pub fn matvec_rows(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    dispatch_rows(ops, "matvec", 1, w, first_row, n_rows, x, y, Extras::default())
}

/// `y = rms_norm(x) W^T` for one vector, the norm taken by the kernel's workgroups themselves
/// (`common/x_normed.wgsl`): `x` is the residual stream, where `rms_norm` then `matvec` are two
/// launches. Where [`crate::gpu::kernels::input_norm_fits`] says so.
/// - w: (R, C), any GPU format
/// - x: (1, C)
/// - y: (1, R)
pub fn matvec_normed(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    x: &GpuTensor,
    norm: InputNorm<'_>,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    let extras = Extras { norm: Some(norm), ..Extras::default() };
    dispatch_rows(ops, "matvec", 1, w, 0, w.rows, x, y, extras)
}

/// `y += x W^T`: a block's output projection added into the residual stream `y` in its own
/// launch, where `matvec` then `add` are two (the arithmetic is theirs: y + product).
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn matvec_add(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    let extras = Extras { accumulate: true, ..Extras::default() };
    dispatch_rows(ops, "matvec", 1, w, 0, w.rows, x, y, extras)
}

/// `y = silu(x G^T) * (x U^T)` in one launch: what `matvec` of `gate` and of `up` then
/// `swiglu` compute, where the two are the halves of a single-expert pair (a dense MLP's
/// gate and up one above the other in each buffer:
/// [`crate::gpu::pairing::interleave_experts`] with `rows_per_expert` = F). With `norm`, x is
/// the residual stream, normed by the kernel ([`matvec_normed`]).
/// - gate, up: (F, C), any GPU format
/// - x: (T, C)
/// - y: (T, F)
pub fn gate_up(
    ops: &mut Ops<'_>,
    gate: &GpuMatrix,
    up: &GpuMatrix,
    x: &GpuTensor,
    norm: Option<InputNorm<'_>>,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    check_pair("gate_up", gate, up)?;
    if gate.interleave.is_none_or(|i| i.rows_per_expert != gate.rows) {
        return Err(GpuError::Shape("gate_up: stacked experts (moe_gate_up reads those)".into()));
    }
    dispatch_rows(ops, "matvec", 1, gate, 0, gate.rows, x, y, Extras { gate_up: true, norm, accumulate: false })
}

/// `y = x W^T` for a batch of vectors, 4 per matrix-vector workgroup (prefill on adapters
/// where [`crate::gpu::Tuning::batch_matvec`] says it beats the tiled matmul).
/// - w: (R, C), any GPU format
/// - x: (T, C)
/// - y: (T, R)
pub fn batch_matvec(ops: &mut Ops<'_>, w: &GpuMatrix, x: &GpuTensor, y: &GpuTensor) -> Result<(), GpuError> {
    batch_matvec_rows(ops, w, 0, w.rows, x, y)
}

/// [`batch_matvec`] over rows `first_row .. first_row + n_rows` of `w`.
/// - x: (T, C)
/// - y: (T, n_rows)
pub fn batch_matvec_rows(
    ops: &mut Ops<'_>,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    dispatch_rows(ops, "batch_matvec", 4, w, first_row, n_rows, x, y, Extras::default())
}

/// What a `matvec` dispatch does besides `y = x W^T` (the overrides of shaders/matvec.wgsl).
#[derive(Clone, Copy, Default)]
struct Extras<'a> {
    /// `w` is the gate half of a single-expert pair (checked by the caller): workgroups take
    /// ROWS / 2 gate rows and the up rows below them.
    gate_up: bool,
    /// y += the product.
    accumulate: bool,
    /// x is the residual stream, normed by the kernel.
    norm: Option<InputNorm<'a>>,
}

/// Records `kernel` (`matvec` or `batch_matvec`, whose workgroups take ROWS rows of
/// `per_group` vectors) over rows `first_row ..` of `w`: one dispatch per part touched, with
/// `extras` (`matvec` only).
#[allow(clippy::too_many_arguments)]
fn dispatch_rows(
    ops: &mut Ops<'_>,
    kernel: &'static str,
    per_group: usize,
    w: &GpuMatrix,
    first_row: usize,
    n_rows: usize,
    x: &GpuTensor,
    y: &GpuTensor,
    extras: Extras<'_>,
) -> Result<(), GpuError> {
    let (t, spans) = row_spans(kernel, w, first_row, n_rows, x, y)?;
    let groups = to_u32(t.div_ceil(per_group), kernel)?;
    if groups > ops.ctx().limits.max_compute_workgroups_per_dimension {
        return Err(GpuError::Shape(format!("{kernel}: {t} vectors in one dispatch")));
    }
    let decode = kernel == "matvec";
    let uniform_x = decode && extras.norm.is_none() && reads_x_uniform(ops, x);
    for (part, span) in spans {
        let params = Params { span, n_tokens: t as u32, _pad: 0 };
        let spec = ShaderSpec::quant(kernel, w.ty).with_uniform_x(uniform_x).with_normed_x(extras.norm.is_some());
        // The threads of `w`'s own product, so a gate_up launch sums as `matvec` does.
        let mut constants = matvec_constants(ops, span.n_rows.div_ceil(ROWS), decode.then_some(w));
        let rows = if decode { workgroup_rows(ops, span.n_rows as usize, extras.gate_up, &constants) } else { ROWS };
        constants = constants.with_rows(rows, extras.gate_up);
        // Rows of y a workgroup writes: a gate_up pair's are half gate rows, half up rows.
        let outs = if extras.gate_up { rows / 2 } else { rows };
        if extras.accumulate {
            constants = constants.with("accumulate", 1.0);
        }
        let constants = with_input_norm(ops, kernel, extras.norm, x, w.cols, constants)?;
        ops.dispatch(Dispatch {
            spec,
            constants: &constants,
            params: bytemuck::bytes_of(&params),
            weights: Some(&part.store),
            storage: &[&x.buffer, &y.buffer],
            x_norm: extras.norm.map(|n| n.buffers()),
            workgroups: ops.grid(span.n_rows.div_ceil(outs), groups), // outs rows x per_group vectors
        })?;
    }
    Ok(())
}

/// Whether a matrix-vector kernel reads `x` (all of its elements) through the uniform window
/// ([`ShaderSpec::uniform_x`]): the adapter's tuning asks for it, the device allows a binding
/// that large, `x` fits the window and its buffer holds the whole window.
pub fn reads_x_uniform(ops: &Ops<'_>, x: &GpuTensor) -> bool {
    let ctx = ops.ctx();
    ctx.tuning.uniform_x
        && ctx.limits.max_uniform_buffer_binding_size >= X_UNIFORM_BYTES
        && 4 * x.len() as u64 <= X_UNIFORM_BYTES
        && x.buffer.size() >= X_UNIFORM_BYTES
}

/// The overrides of the matrix-vector kernels for a dispatch of `row_groups` workgroups (of
/// ROWS rows): `wg_size` from the adapter's [`crate::gpu::Tuning`] (wider workgroups where
/// there are few of them), and for a decode kernel (`matvec`, `moe_matvec`) over `chunked`'s
/// matrix in one of the [`SCALE_CHUNK_TYPES`], `scale_chunks` (common/dot_loop_chunked.wgsl):
/// on where the tuning asks for it and each row is whole chunks of 256 elements, which the
/// threads take in turn. (Also where they do not share them evenly, as the 8B's expert downs'
/// 7 chunks of 1792 columns among 8 threads: lavapipe, 8B Q4_0 at 1K, the routed experts
/// 215 -> 156 ms of GPU time a token, Q4_K_M 186 -> 145; decode 44.0 -> 48.4 % of copy,
/// means of 3 alternating rounds; 2026-11-27.)
pub(crate) fn matvec_constants(ops: &Ops<'_>, row_groups: u32, chunked: Option<&GpuMatrix>) -> MatvecConstants {
    let t = &ops.ctx().tuning;
    let wg = if row_groups < FEW_ROW_GROUPS { t.few_rows_wg } else { t.matvec_wg };
    let mut constants = MatvecConstants { list: [("wg_size", wg as f64); 8], len: 1 };
    constants.list[1] = ("scale_chunks", 0.0);
    if let Some(w) = chunked.filter(|w| SCALE_CHUNK_TYPES.contains(&w.ty)) {
        let chunk = 256; // elements: a run of units (common/dot_loop_chunked.wgsl)
        constants.list[1].1 = f64::from(u8::from(t.scale_chunks && w.cols.is_multiple_of(chunk)));
        constants.len = 2;
    }
    constants
}

/// Rows a matrix-vector workgroup dots (`wg_rows`, common/dot_rows.wgsl) in a product of
/// `n_rows` rows (of y, or of one expert): the adapter's [`crate::gpu::Tuning::matvec_rows`],
/// at least 2 for gate+up pairs; ROWS for the scale-chunk loop (CPU adapters) and for large
/// matrices (on an H200 the tied head streamed fastest with 8 rows: Q6_K 65536 x 2048 at 699
/// GB/s against 629 with 2).
pub(crate) fn workgroup_rows(ops: &Ops<'_>, n_rows: usize, paired: bool, constants: &MatvecConstants) -> u32 {
    let rows = ops.ctx().tuning.matvec_rows;
    if constants.scale_chunks() || n_rows > LARGE_ROWS {
        ROWS
    } else if paired {
        rows.max(2)
    } else {
        rows
    }
}

/// Rows of a product above which [`workgroup_rows`] keeps ROWS.
const LARGE_ROWS: usize = 16384;

/// [`matvec_constants`]: `wg_size`, then `scale_chunks` where the shader has it, then any
/// kernel-specific one ([`MatvecConstants::with`]); held in place (recorded every decode
/// step, so no allocation).
pub(crate) struct MatvecConstants {
    list: [(&'static str, f64); 8],
    len: usize,
}

impl MatvecConstants {
    /// These and override `name` = `value` (six such at most).
    pub(crate) fn with(mut self, name: &'static str, value: f64) -> MatvecConstants {
        self.list[self.len] = (name, value);
        self.len += 1;
        self
    }

    /// These and `wg_rows` = `rows` (where not ROWS, the shader's default) and `paired_rows`
    /// (a gate row and its up row in each lane pair; where on).
    pub(crate) fn with_rows(self, rows: u32, paired: bool) -> MatvecConstants {
        let c = if rows == ROWS { self } else { self.with("wg_rows", f64::from(rows)) };
        if paired {
            c.with("paired_rows", 1.0)
        } else {
            c
        }
    }

    /// Whether the dot loop takes whole scale chunks (`scale_chunks` on).
    pub(crate) fn scale_chunks(&self) -> bool {
        self.len > 1 && self.list[1].1 != 0.0
    }

    /// The threads of a workgroup (`wg_size`).
    pub(crate) fn wg(&self) -> u32 {
        self.list[0].1 as u32
    }

    pub(crate) fn set_wg(&mut self, wg: u32) {
        self.list[0].1 = f64::from(wg);
    }
}

impl std::ops::Deref for MatvecConstants {
    type Target = [(&'static str, f64)];

    fn deref(&self) -> &Self::Target {
        &self.list[..self.len]
    }
}

/// Row groups below which a dispatch gets [`crate::gpu::Tuning::few_rows_wg`] threads a group.
const FEW_ROW_GROUPS: u32 = 32;
