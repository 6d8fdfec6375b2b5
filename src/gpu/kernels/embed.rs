use bytemuck::{Pod, Zeroable};

use super::{expect_len, to_u32, wg_constants, WG_SIZE};
use crate::gpu::ops::Dispatch;
use crate::gpu::shader::ShaderSpec;
use crate::gpu::{GpuError, GpuMatrix, GpuTensor, Ops};

/// Mirrors `Params` in `shaders/embed.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    cols4: u32,      // elements per row / 4
    part_row0: u32,  // table row of the part's first row
    part_rows: u32,  // rows in the part
    n_units: u32,    // T * cols4
    scale_base: u32, // word offset of the part's split scales
    _pad: [u32; 3],
}

/// `out[t] = table[ids[t]]`, dequantized.
/// - table: (V, H), any GPU format
/// - ids: (T) u32; ids outside the table leave their row of `out` untouched
/// - out: (T, H)
pub fn embed(ops: &mut Ops<'_>, table: &GpuMatrix, ids: &GpuTensor, out: &GpuTensor) -> Result<(), GpuError> {
    table.check_not_interleaved("embed")?;
    let t = ids.len();
    expect_len(out, "embed: out", t, table.cols)?;
    let cols4 = table.cols / 4;
    let n_units = to_u32(t * cols4, "embed")?;
    let workgroups = ops.grid(n_units.div_ceil(WG_SIZE), 1);
    for part in &table.parts {
        let params = Params {
            cols4: cols4 as u32,
            part_row0: to_u32(part.first_row, "embed")?,
            part_rows: part.rows as u32,
            n_units,
            scale_base: part.scale_base,
            _pad: [0; 3],
        };
        ops.dispatch(Dispatch {
            spec: ShaderSpec::quant("embed", table.ty),
            constants: &wg_constants(),
            params: bytemuck::bytes_of(&params),
            weights: Some(&part.store),
            storage: &[&ids.buffer, &out.buffer],
            x_norm: None,
            workgroups,
        })?;
    }
    Ok(())
}
