//! Copying buffers back to the host. Only tests, logits on request and the sampled token id
//! are read back; a forward step itself never waits on the GPU.
//!
//! Written `async` because the browser can only await a mapping; natively the device is
//! polled to completion first, so the future is ready when first polled, and the
//! `*_blocking` wrappers simply block on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::context::{GpuContext, GpuError};

/// A one-shot slot filled by wgpu's map callback, awaited by the reader.
#[derive(Default)]
struct Slot {
    result: Option<Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

struct MapFuture(Arc<Mutex<Slot>>);

impl Future for MapFuture {
    type Output = Result<(), wgpu::BufferAsyncError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.0.lock().expect("map slot poisoned");
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl GpuContext {
    /// The first `bytes` bytes of `buffer` (which needs `COPY_SRC` usage), after all work
    /// submitted so far. `bytes` must be a multiple of 4.
    pub async fn read_bytes(&self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, GpuError> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);

        let slot = Arc::new(Mutex::new(Slot::default()));
        let filler = slot.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let mut s = filler.lock().expect("map slot poisoned");
            s.result = Some(r);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
        // A no-op in the browser, where the mapping completes on the event loop.
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
        MapFuture(slot).await.map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = staging.slice(..).get_mapped_range().map_err(|e| GpuError::Readback(e.to_string()))?.to_vec();
        staging.unmap();
        self.take_error()?;
        Ok(data)
    }

    /// `n` f32 values from the start of `buffer`.
    pub async fn read_f32(&self, buffer: &wgpu::Buffer, n: usize) -> Result<Vec<f32>, GpuError> {
        let bytes = self.read_bytes(buffer, 4 * n as u64).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// `n` u32 values from the start of `buffer`.
    pub async fn read_u32(&self, buffer: &wgpu::Buffer, n: usize) -> Result<Vec<u32>, GpuError> {
        let bytes = self.read_bytes(buffer, 4 * n as u64).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32_blocking(&self, buffer: &wgpu::Buffer, n: usize) -> Result<Vec<f32>, GpuError> {
        pollster::block_on(self.read_f32(buffer, n))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_u32_blocking(&self, buffer: &wgpu::Buffer, n: usize) -> Result<Vec<u32>, GpuError> {
        pollster::block_on(self.read_u32(buffer, n))
    }
}
