//! Choosing the next token on the GPU, so a decode step reads back one u32 (or nothing, when
//! the id goes straight into the next step's `embed`). `sample` is the canonical sampler of
//! [`crate::sampling::sample_with`]; the host supplies its uniform number
//! ([`crate::sampling::Sampler::draw`]), so runs are reproducible from the seed.

use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuTensor, Ops};
use crate::sampling::{SamplingParams, CHUNKS};

/// Mirrors `Params` in `shaders/argmax.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ArgmaxParams {
    n: u32,         // elements in the row
    offset: u32,    // element offset of the row
    out_index: u32, // element of out written
    _pad: u32,
}

/// Mirrors `Params` in `shaders/sample.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SampleParams {
    n: u32,         // elements in the row
    offset: u32,    // element offset of the row
    out_index: u32, // element of out written
    top_k: u32,     // 0: off
    inv_temp: f32,  // 1 / temperature
    top_p: f32,     // when use_top_p != 0
    log_min_p: f32, // when use_min_p != 0
    u: f32,         // uniform number in [0, 1)
    use_top_p: u32,
    use_min_p: u32,
    _pad: [u32; 2],
}

/// Both kernels run one workgroup of this many threads (`wg_size` in the shaders): the
/// canonical sampler's chunk count.
const WG: u32 = CHUNKS as u32;

/// Checks `row` of `logits` and `out_index` of `out`; returns (V, row offset, out index).
fn check(logits: &GpuTensor, row: usize, out: &GpuTensor, out_index: usize) -> Result<[u32; 3], GpuError> {
    let (rows, v) = logits.shape();
    if row >= rows || out_index >= out.len() {
        return Err(GpuError::Shape(format!("sampling row {row} of {rows} into element {out_index} of {}", out.len())));
    }
    expect_len(logits, "sampling: logits", rows, v)?;
    Ok([to_u32(v, "vocabulary")?, to_u32(row * v, "logits offset")?, out_index as u32])
}

/// `out[out_index] = argmax(logits[row])`, the lowest index on ties.
/// - logits: (T, V)
/// - out: u32 token ids, any shape
pub fn argmax(
    ops: &mut Ops<'_>,
    logits: &GpuTensor,
    row: usize,
    out: &GpuTensor,
    out_index: usize,
) -> Result<(), GpuError> {
    let [n, offset, out_index] = check(logits, row, out, out_index)?;
    let params = ArgmaxParams { n, offset, out_index, _pad: 0 };
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("argmax"),
        constants: &[("wg_size", WG as f64)],
        params: bytemuck::bytes_of(&params),
        storage: &[&logits.buffer, &out.buffer],
        weights: None,
        x_norm: None,
        workgroups: [1, 1, 1],
    })
}

/// `out[out_index] = sample_with(logits[row], p, u)`: [`argmax`] when `p` is greedy (`u` unused),
/// else temperature, top-k, top-p and min-p with the uniform number `u` in [0, 1).
/// - logits: (T, V), finite
/// - out: u32 token ids, any shape
pub fn sample(
    ops: &mut Ops<'_>,
    logits: &GpuTensor,
    row: usize,
    p: &SamplingParams,
    u: f32,
    out: &GpuTensor,
    out_index: usize,
) -> Result<(), GpuError> {
    if p.is_greedy() {
        return argmax(ops, logits, row, out, out_index);
    }
    let [n, offset, out_index] = check(logits, row, out, out_index)?;
    let f = p.filters(n as usize);
    let params = SampleParams {
        n,
        offset,
        out_index,
        top_k: f.top_k,
        inv_temp: f.inv_temperature,
        top_p: f.top_p.unwrap_or(1.0),
        log_min_p: f.log_min_p.unwrap_or(0.0),
        u,
        use_top_p: f.top_p.is_some() as u32,
        use_min_p: f.log_min_p.is_some() as u32,
        _pad: [0; 2],
    };
    ops.dispatch(Dispatch {
        spec: ShaderSpec::plain("sample"),
        constants: &[("wg_size", WG as f64)],
        params: bytemuck::bytes_of(&params),
        storage: &[&logits.buffer, &out.buffer],
        weights: None,
        x_norm: None,
        workgroups: [1, 1, 1],
    })
}
