//! Host functions, one per WGSL kernel (`shaders/<name>.wgsl`, entry point `<name>`), each
//! checked against the reference op of the same name (`crate::reference::ops`).
//!
//! Each one checks shapes, fills the kernel's `Params` (mirrored field for field from the
//! WGSL struct, padded to 16 bytes as uniform layout wants) and records its dispatches into
//! an [`Ops`]; nothing is submitted or read back here.

mod add;
mod attention;
mod copy;
mod embed;
mod matmul;
mod matvec;
mod moe;
mod rms_norm;
mod rope;
mod sample;
mod short_conv;
mod swiglu;

pub use add::add;
pub use attention::{attention, attention_scratch_len, kv_store};
pub use copy::copy;
pub use embed::embed;
pub use matmul::{matmul, matmul_rows};
pub use matvec::{matvec, matvec_rows};
pub use moe::{moe_combine, moe_matvec, moe_route};
pub use rms_norm::rms_norm;
pub use rope::{rope, rope_inv_freq, RopeTable};
pub use sample::{argmax, sample};
pub use short_conv::short_conv;
pub use swiglu::swiglu;

use super::context::GpuError;
use super::ops::Ops;
use super::tensor::GpuTensor;

/// Workgroup size of every kernel but matmul (its 8 x 8 tiles are fixed), set through the
/// `wg_size` override: a power of two, as the tree reductions need, and within WebGPU's
/// portable 256 invocations.
pub(crate) const WG_SIZE: u32 = 64;

pub(crate) fn wg_constants() -> [(&'static str, f64); 1] {
    [("wg_size", WG_SIZE as f64)]
}

/// `len` as a u32 shader index, or a shape error naming `what`.
pub(crate) fn to_u32(len: usize, what: &str) -> Result<u32, GpuError> {
    u32::try_from(len).map_err(|_| GpuError::Shape(format!("{what}: {len} does not fit a 32-bit index")))
}

/// Fails unless `t` holds `rows * cols` elements.
pub(crate) fn expect_len(t: &GpuTensor, what: &str, rows: usize, cols: usize) -> Result<(), GpuError> {
    if t.len() != rows * cols {
        return Err(GpuError::Shape(format!("{what}: expected {rows} x {cols} elements, got {} x {}", t.rows, t.cols)));
    }
    Ok(())
}

/// Records an elementwise kernel over `n` elements, one thread each.
pub(crate) fn dispatch_elementwise(
    ops: &mut Ops<'_>,
    kernel: &'static str,
    n: usize,
    params: &[u8],
    storage: &[&wgpu::Buffer],
) -> Result<(), GpuError> {
    let groups = to_u32(n.div_ceil(WG_SIZE as usize), kernel)?;
    let workgroups = ops.grid(groups, 1);
    ops.dispatch(super::ops::Dispatch {
        spec: super::shader::ShaderSpec::plain(kernel),
        constants: &wg_constants(),
        params,
        storage,
        workgroups,
    })
}
