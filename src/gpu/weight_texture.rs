//! Weight matrices moved from storage buffers into rgba32uint textures, on CPU adapters
//! (`Tuning::weight_textures`). llvmpipe loads a storage buffer one lane and one component
//! at a time, each load behind a branch, but fetches a texel for all lanes with vector
//! gathers: the same bytes read as texels go about 1.5x faster (see
//! shaders/common/weights_texture.wgsl). The bytes are unchanged: a part's 16-byte word `i`
//! is texel `(i % W_TEXELS, i / W_TEXELS)`, and the kernels' texture variants
//! ([`super::shader::ShaderSpec::weight_texture`]) read them through the same accessors as
//! the buffer ones.
//!
//! Done on the GPU after upload and pairing (buffer-to-texture copies), so every loader and
//! [`super::pairing`] keep working on buffers; each buffer is released once copied.

use std::collections::HashMap;

use super::matrix::{WeightStore, W_TEXELS};
use super::{GpuContext, GpuError, GpuMatrix, MatrixPart};

/// Bytes of one texel and of one texture row.
const TEXEL_BYTES: u64 = 16;
const ROW_BYTES: u64 = W_TEXELS as u64 * TEXEL_BYTES;

/// Buffers already copied into textures, so that matrices sharing a buffer (the two halves of
/// an interleaved pair) share its texture.
#[derive(Default)]
pub struct TextureCopies {
    done: HashMap<wgpu::Buffer, wgpu::TextureView>,
    /// Bytes copied since the queue was last waited for.
    pending: u64,
}

/// Bytes of copies after which the host waits for the queue (natively), so that the buffers
/// already copied are freed before more textures are made: bounds the extra memory a load
/// takes to about this much.
const WAIT_BYTES: u64 = 256 << 20;

impl GpuMatrix {
    /// Keeps the matrix where `ctx`'s tuning keeps a model's weights: moved into textures
    /// where `Tuning::weight_textures` says so (CPU adapters), else in its buffers.
    pub fn place_as_tuned(&mut self, ctx: &GpuContext, copies: &mut TextureCopies) -> Result<(), GpuError> {
        if ctx.tuning.weight_textures {
            self.to_textures(ctx, copies)?;
        }
        Ok(())
    }

    /// Moves every part of the matrix into a texture (or the one a part's buffer was already
    /// copied into, per `copies`). Parts too large for the device's textures stay buffers.
    /// A part's buffer is destroyed once copied, or for the halves of an interleaved pair
    /// (one buffer) once the second half is moved with the same `copies`.
    pub fn to_textures(&mut self, ctx: &GpuContext, copies: &mut TextureCopies) -> Result<(), GpuError> {
        let mut encoder = ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("weights") });
        let (mut copied, mut done) = (0, Vec::new());
        for part in &mut self.parts {
            let Some(buffer) = part.buffer().cloned() else { continue };
            let view = match copies.done.get(&buffer) {
                Some(view) => {
                    done.push(buffer); // the pair's second half: no one reads the buffer now
                    view.clone()
                }
                None => {
                    let Some(view) = copy_to_texture(ctx, &mut encoder, &buffer, part.bytes) else { continue };
                    copies.done.insert(buffer.clone(), view.clone());
                    copied += part.bytes;
                    if self.interleave.is_none() {
                        done.push(buffer);
                    }
                    view
                }
            };
            part.store = WeightStore::Texture(view);
        }
        if copied > 0 {
            ctx.queue.submit([encoder.finish()]);
        }
        // Freed once the copies have run (WebGPU and wgpu defer it); the handles stay keys.
        for buffer in done {
            buffer.destroy();
        }
        copies.pending += copied;
        if copies.pending >= WAIT_BYTES {
            copies.pending = 0;
            #[cfg(not(target_arch = "wasm32"))]
            ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Device(e.to_string()))?;
        }
        Ok(())
    }
}

/// A texture of `bytes` bytes of `buffer` (a multiple of 4), with the copies recorded; `None`
/// when it would exceed the device's largest texture.
fn copy_to_texture(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Option<wgpu::TextureView> {
    let texels = bytes.div_ceil(TEXEL_BYTES).max(1);
    let rows = texels.div_ceil(W_TEXELS as u64);
    if rows > ctx.limits.max_texture_dimension_2d as u64 {
        return None;
    }
    // A one-row texture is only as wide as it must be (the shader's coordinates are the same).
    let width = texels.min(W_TEXELS as u64) as u32;
    let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("weights"),
        size: wgpu::Extent3d { width, height: rows as u32, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Uint,
        // COPY_SRC: tests read the bytes back.
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let at = |x: u64, y: u64| wgpu::TexelCopyTextureInfo {
        texture: &texture,
        mip_level: 0,
        origin: wgpu::Origin3d { x: x as u32, y: y as u32, z: 0 },
        aspect: wgpu::TextureAspect::All,
    };
    let from = |buffer, offset| wgpu::TexelCopyBufferInfo {
        buffer,
        layout: wgpu::TexelCopyBufferLayout { offset, bytes_per_row: Some(ROW_BYTES as u32), rows_per_image: None },
    };
    let extent = |w: u64, h: u64| wgpu::Extent3d { width: w as u32, height: h as u32, depth_or_array_layers: 1 };
    // Whole texels: full rows, then the last row's; a last texel of fewer than 16 bytes goes
    // through a zeroed 16-byte buffer (a copy reads whole texels from its source).
    let (whole, tail) = (bytes / TEXEL_BYTES, bytes % TEXEL_BYTES);
    let (full_rows, last_row) = (whole / W_TEXELS as u64, whole % W_TEXELS as u64);
    if full_rows > 0 {
        encoder.copy_buffer_to_texture(from(buffer, 0), at(0, 0), extent(W_TEXELS as u64, full_rows));
    }
    if last_row > 0 {
        encoder.copy_buffer_to_texture(from(buffer, full_rows * ROW_BYTES), at(0, full_rows), extent(last_row, 1));
    }
    if tail > 0 {
        let texel = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("last texel"),
            size: TEXEL_BYTES,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(buffer, whole * TEXEL_BYTES, &texel, 0, tail);
        encoder.copy_buffer_to_texture(from(&texel, 0), at(last_row, full_rows), extent(1, 1));
    }
    Some(texture.create_view(&wgpu::TextureViewDescriptor::default()))
}

impl MatrixPart {
    /// The part's bytes (`bytes` of them: its layout), read back from its buffer or texture:
    /// for tests.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_bytes_blocking(&self, ctx: &GpuContext) -> Result<Vec<u8>, GpuError> {
        let buffer = match &self.store {
            WeightStore::Buffer(buffer) => buffer.clone(),
            WeightStore::Texture(view) => {
                let texture = view.texture();
                let size = texture.size();
                let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("texture readback"),
                    size: u64::from(size.height) * ROW_BYTES,
                    usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                });
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                encoder.copy_texture_to_buffer(
                    texture.as_image_copy(),
                    wgpu::TexelCopyBufferInfo {
                        buffer: &buffer,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(ROW_BYTES as u32),
                            rows_per_image: None,
                        },
                    },
                    size,
                );
                ctx.queue.submit([encoder.finish()]);
                buffer
            }
        };
        pollster::block_on(ctx.read_bytes(&buffer, self.bytes))
    }
}
