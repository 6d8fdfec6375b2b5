//! Activation and small-parameter buffers: row-major `(rows, cols)` of 4-byte elements
//! (f32 activations and norm weights, or u32 token ids). Weight matrices are
//! [`super::GpuMatrix`] instead, which hides their quantized layout.

use super::context::{GpuContext, GpuError};
use super::shader::X_UNIFORM_BYTES;

/// A storage buffer of `rows * cols` 4-byte elements that kernels read and write and tests
/// copy back (`STORAGE | UNIFORM | COPY_SRC | COPY_DST`). Cloning shares the buffer. Where the
/// adapter's tuning reads matrix-vector inputs through a uniform window
/// ([`super::Tuning::uniform_x`]), the buffer holds at least that window
/// ([`super::shader::X_UNIFORM_BYTES`]; the bytes past the tensor are zeros, never read).
#[derive(Clone)]
pub struct GpuTensor {
    pub buffer: wgpu::Buffer,
    pub rows: usize,
    pub cols: usize,
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::UNIFORM)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl GpuTensor {
    /// Checks the shape fits one binding (and is not empty: WebGPU cannot bind 0 bytes).
    fn checked_bytes(ctx: &GpuContext, label: &str, rows: usize, cols: usize) -> Result<u64, GpuError> {
        let n = rows.checked_mul(cols).filter(|&n| n > 0);
        let n = n.ok_or_else(|| GpuError::Shape(format!("{label}: empty or oversized tensor ({rows} x {cols})")))?;
        let bytes = 4 * n as u64;
        ctx.check_binding(label, bytes)?;
        Ok(bytes)
    }

    /// A zero-filled `(rows, cols)` tensor.
    pub fn zeros(ctx: &GpuContext, label: &str, rows: usize, cols: usize) -> Result<GpuTensor, GpuError> {
        let size = Self::checked_bytes(ctx, label, rows, cols)?;
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: Self::padded(ctx, size),
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(GpuTensor { buffer, rows, cols })
    }

    /// The buffer size for `bytes` of tensor: at least the uniform window where the adapter
    /// reads vectors through one.
    fn padded(ctx: &GpuContext, bytes: u64) -> u64 {
        match ctx.tuning.uniform_x {
            true => bytes.max(X_UNIFORM_BYTES),
            false => bytes,
        }
    }

    fn from_bytes(
        ctx: &GpuContext,
        label: &str,
        rows: usize,
        cols: usize,
        n: usize,
        bytes: &[u8],
    ) -> Result<GpuTensor, GpuError> {
        Self::checked_bytes(ctx, label, rows, cols)?;
        if n != rows * cols {
            return Err(GpuError::Shape(format!("{label}: {n} values for a {rows} x {cols} tensor")));
        }
        let tensor = Self::zeros(ctx, label, rows, cols)?;
        ctx.queue.write_buffer(&tensor.buffer, 0, bytes); // ordered before any later submission
        Ok(tensor)
    }

    /// A `(rows, cols)` tensor holding `data`.
    pub fn from_f32(
        ctx: &GpuContext,
        label: &str,
        rows: usize,
        cols: usize,
        data: &[f32],
    ) -> Result<GpuTensor, GpuError> {
        Self::from_bytes(ctx, label, rows, cols, data.len(), bytemuck::cast_slice(data))
    }

    /// A `(rows, cols)` tensor holding u32 `data` (token ids, indices).
    pub fn from_u32(
        ctx: &GpuContext,
        label: &str,
        rows: usize,
        cols: usize,
        data: &[u32],
    ) -> Result<GpuTensor, GpuError> {
        Self::from_bytes(ctx, label, rows, cols, data.len(), bytemuck::cast_slice(data))
    }

    /// The same buffer seen as `(rows, cols)`, e.g. the first T rows of a scratch tensor
    /// allocated for a larger batch, or (T * heads, head_dim) for per-head ops.
    pub fn view(&self, rows: usize, cols: usize) -> Result<GpuTensor, GpuError> {
        if rows * cols == 0 || (rows * cols * 4) as u64 > self.buffer.size() {
            return Err(GpuError::Shape(format!("a {rows} x {cols} view of a {}-byte buffer", self.buffer.size())));
        }
        Ok(GpuTensor { buffer: self.buffer.clone(), rows, cols })
    }

    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Overwrites the contents with `data` (queued; ordered before later submissions).
    pub fn write_f32(&self, ctx: &GpuContext, data: &[f32]) -> Result<(), GpuError> {
        if data.len() != self.len() {
            return Err(GpuError::Shape(format!(
                "writing {} values into a {} x {} tensor",
                data.len(),
                self.rows,
                self.cols
            )));
        }
        ctx.queue.write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        Ok(())
    }

    pub async fn read_f32(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        ctx.read_f32(&self.buffer, self.len()).await
    }

    pub async fn read_u32(&self, ctx: &GpuContext) -> Result<Vec<u32>, GpuError> {
        ctx.read_u32(&self.buffer, self.len()).await
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32_blocking(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        ctx.read_f32_blocking(&self.buffer, self.len())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_u32_blocking(&self, ctx: &GpuContext) -> Result<Vec<u32>, GpuError> {
        ctx.read_u32_blocking(&self.buffer, self.len())
    }
}
