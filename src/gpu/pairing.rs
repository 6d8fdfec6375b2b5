//! A MoE layer's gate and up experts moved into shared buffers, expert by expert:
//! `[gate_0 | up_0 | gate_1 | up_1 | ...]`, so that one workgroup reads an expert's gate rows
//! and the matching up rows from one binding and writes silu(gate) * up directly
//! (`kernels::moe_gate_up`): one launch instead of three a MoE layer.
//!
//! Done on the GPU after upload (buffer-to-buffer copies of each expert's bodies and split
//! scales, see [`super::layout`]), so both loaders (a file natively, a stream in the browser)
//! get it by building the model; the separate buffers are freed afterwards.

use super::layout::{self, GpuFormat, PartPlan};
use super::{GpuContext, GpuError, GpuMatrix, Interleave, MatrixPart, WeightStore};

/// `a` and `b` (stacked experts of `rows_per_expert` rows, the same type and shape) copied into
/// shared buffers, returned as the two halves of the pair (`a.pairs_with(b)`), each computing
/// what it did before with the expert kernels. `None` when they cannot be paired (types or
/// shapes differ, an expert pair would not fit one binding, an expert's bytes are not whole
/// words, or one is already paired): the caller keeps them apart.
pub fn interleave_experts(
    ctx: &GpuContext,
    a: &GpuMatrix,
    b: &GpuMatrix,
    rows_per_expert: usize,
) -> Result<Option<(GpuMatrix, GpuMatrix)>, GpuError> {
    interleave_experts_within(ctx, a, b, rows_per_expert, ctx.max_weight_part_bytes())
}

/// As [`interleave_experts`] with buffers of at most `max_part_bytes` (tests: several parts).
pub fn interleave_experts_within(
    ctx: &GpuContext,
    a: &GpuMatrix,
    b: &GpuMatrix,
    rows_per_expert: usize,
    max_part_bytes: u64,
) -> Result<Option<(GpuMatrix, GpuMatrix)>, GpuError> {
    let rpe = rows_per_expert;
    let same = a.ty == b.ty && a.rows == b.rows && a.cols == b.cols;
    if !same || rpe == 0 || !a.rows.is_multiple_of(rpe) || a.interleave.is_some() || b.interleave.is_some() {
        return Ok(None);
    }
    let fmt = GpuFormat::of(a.ty)?;
    let blocks_per_row = a.cols / a.ty.block_size();
    // Bytes of one row's block bodies, and of its split scales (f16 each) where they are moved.
    let (body_row, scale_row) = match fmt.split_scale {
        Some(_) => (blocks_per_row * (a.ty.type_size() - 2), 2 * blocks_per_row),
        None => (fmt.row_bytes(a.cols) as usize, 0),
    };
    let words = |bytes: usize| bytes.is_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT as usize);
    if !words(rpe * body_row) || !words(rpe * scale_row) {
        return Ok(None);
    }
    let whole = |m: &GpuMatrix| (0..m.rows / rpe).all(|e| expert_part(m, e, rpe).is_some());
    let Ok(plan) =
        layout::plan_parts(a.ty, 2 * a.rows, a.cols, 2 * rpe, max_part_bytes.min(ctx.max_weight_part_bytes()))
    else {
        return Ok(None);
    };
    if !whole(a) || !whole(b) {
        return Ok(None); // an expert straddles two buffers (not uploaded grouped)
    }
    if a.parts.iter().chain(&b.parts).any(|p| p.buffer().is_none()) {
        return Ok(None); // already in textures (`GpuMatrix::to_textures` comes after pairing)
    }
    let mut encoder =
        ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("pair experts") });
    let mut halves = (Vec::new(), Vec::new());
    for (i, p) in plan.iter().enumerate() {
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("experts pair [{i}]")),
            size: p.bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let scale_base = layout::scale_base_words(fmt, p.rows * blocks_per_row);
        let copy = ExpertCopy { rpe, body_row, scale_row, dst: &buffer, dst_scale_base: scale_base };
        for (local, e) in experts_of(p, rpe).enumerate() {
            for (half, src) in [a, b].into_iter().enumerate() {
                copy.record(&mut encoder, src, e, (2 * local + half) * rpe);
            }
        }
        // Each half's view of the part: its own rows, counted as if alone.
        let (first_row, rows) = (p.first_row / 2, p.rows / 2);
        let part = |buffer: wgpu::Buffer| MatrixPart {
            store: WeightStore::Buffer(buffer),
            bytes: p.bytes,
            first_row,
            rows,
            scale_base,
        };
        halves.0.push(part(buffer.clone()));
        halves.1.push(part(buffer));
    }
    ctx.queue.submit([encoder.finish()]);
    let view = |parts, offset| GpuMatrix {
        ty: a.ty,
        rows: a.rows,
        cols: a.cols,
        parts,
        interleave: Some(Interleave { rows_per_expert: rpe, offset }),
    };
    Ok(Some((view(halves.0, 0), view(halves.1, rpe))))
}

/// The part of `m` holding all of expert `e`'s rows, if one does.
fn expert_part(m: &GpuMatrix, e: usize, rpe: usize) -> Option<&MatrixPart> {
    let first = e * rpe;
    m.parts.iter().find(|p| p.first_row <= first && first + rpe <= p.first_row + p.rows)
}

/// The experts a part of the paired plan holds (its rows are whole pairs).
fn experts_of(p: &PartPlan, rpe: usize) -> std::ops::Range<usize> {
    p.first_row / (2 * rpe)..(p.first_row + p.rows) / (2 * rpe)
}

/// Copies of one expert's rows from a plain stacked matrix into a part of the paired one.
struct ExpertCopy<'a> {
    rpe: usize,
    body_row: usize,
    scale_row: usize,
    dst: &'a wgpu::Buffer,
    dst_scale_base: u32,
}

impl ExpertCopy<'_> {
    /// Expert `e` of `src` (within one part: checked first) to rows `dst_row ..` of the
    /// destination part: its bodies, then (split-scale formats) its scales into the part's
    /// scale region.
    fn record(&self, encoder: &mut wgpu::CommandEncoder, src: &GpuMatrix, e: usize, dst_row: usize) {
        let part = expert_part(src, e, self.rpe).expect("experts checked to lie within one buffer");
        let buffer = part.buffer().expect("parts checked to be buffers");
        let row = (e * self.rpe - part.first_row) as u64;
        let (body, scale) = (self.body_row as u64, self.scale_row as u64);
        let n = self.rpe as u64;
        encoder.copy_buffer_to_buffer(buffer, row * body, self.dst, dst_row as u64 * body, n * body);
        if scale > 0 {
            let (src_base, dst_base) = (4 * u64::from(part.scale_base), 4 * u64::from(self.dst_scale_base));
            encoder.copy_buffer_to_buffer(
                buffer,
                src_base + row * scale,
                self.dst,
                dst_base + dst_row as u64 * scale,
                n * scale,
            );
        }
    }
}
