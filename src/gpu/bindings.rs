//! What a dispatch binds, made once and reused: the kernels' `Params` go into slots of a few
//! pooled uniform buffers (written with one `write_buffer` per chunk at submit), and bind groups
//! are cached by (pipeline, slot, buffers). A decode step records the same dispatches over the
//! same buffers every token, so after the first token no buffer or bind group is created.
//! Creating both per dispatch cost more host time than many small kernels take on a real GPU
//! (~30 µs per dispatch on an H200 through Vulkan), and more still through the browser's API.
//!
//! Cached bind groups hold their buffers alive, so entries a step has not used for
//! [`KEEP_SUBMITS`] submissions are dropped, and [`BindingPool::forget`] drops them all (a
//! model or a state going away calls it).

use std::collections::HashMap;
use std::sync::Mutex;

use super::matrix::WeightStore;
use super::OpsCounts;

/// Bytes between two `Params` slots: WebGPU's largest `minUniformBufferOffsetAlignment`, so
/// any slot offset is valid on every adapter (a kernel's `Params` is far smaller).
pub(crate) const SLOT_BYTES: usize = 256;
/// Slots per uniform buffer (64 KiB, the smallest `maxUniformBufferBindingSize` WebGPU allows).
const SLOTS_PER_CHUNK: usize = 256;
/// Submissions a cached bind group may go unused before it is dropped.
const KEEP_SUBMITS: u64 = 16;

/// Identifies a bind group: the pipeline (its layout), the params slot, the buffers bound.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct BindKey {
    pub pipeline: wgpu::ComputePipeline,
    pub slot: u32,
    pub params_len: u32,
    pub storage: Vec<wgpu::Buffer>,
    pub weights: Option<WeightStore>,
    pub x_norm: Option<(wgpu::Buffer, wgpu::Buffer)>,
}

/// The uniform chunks and bind groups one [`super::Ops`] uses while it records.
#[derive(Default)]
pub(crate) struct Arena {
    chunks: Vec<wgpu::Buffer>,
    /// This recording's params, slot after slot (`SLOT_BYTES` apart).
    staged: Vec<u8>,
    /// Bytes of `staged` already written by an earlier [`Arena::flush`] of this recording.
    written: usize,
    /// Bind groups and the submission count at which each was last used.
    cache: HashMap<BindKey, (wgpu::BindGroup, u64)>,
    submits: u64,
    /// [`BindingPool`]'s generation when this arena's cache was filled.
    generation: u64,
}

impl Arena {
    /// Puts `params` into the next slot, returning (slot, its uniform buffer, byte offset).
    pub fn stage(&mut self, device: &wgpu::Device, params: &[u8]) -> (u32, wgpu::Buffer, u64) {
        assert!(params.len() <= SLOT_BYTES, "a kernel's Params exceeds {SLOT_BYTES} bytes");
        let slot = self.staged.len() / SLOT_BYTES;
        self.staged.extend_from_slice(params);
        self.staged.resize((slot + 1) * SLOT_BYTES, 0);
        let chunk = slot / SLOTS_PER_CHUNK;
        if chunk == self.chunks.len() {
            OpsCounts::add(|c| c.made += 1);
            self.chunks.push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: (SLOTS_PER_CHUNK * SLOT_BYTES) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        (slot as u32, self.chunks[chunk].clone(), ((slot % SLOTS_PER_CHUNK) * SLOT_BYTES) as u64)
    }

    /// The cached bind group for `key`, or the one `make` creates (then cached).
    pub fn bind_group(&mut self, key: BindKey, make: impl FnOnce() -> wgpu::BindGroup) -> wgpu::BindGroup {
        let now = self.submits;
        let entry = self.cache.entry(key).or_insert_with(|| {
            OpsCounts::add(|c| c.made += 1);
            (make(), now)
        });
        entry.1 = now;
        entry.0.clone()
    }

    /// Writes the params staged since the last flush into their chunks (before a submission
    /// that reads them). The queue orders these writes after earlier submissions, which may
    /// still read the old values; a recording submitted in parts writes each slot once.
    pub fn flush(&mut self, queue: &wgpu::Queue) {
        const CHUNK: usize = SLOTS_PER_CHUNK * SLOT_BYTES;
        while self.written < self.staged.len() {
            let (chunk, start) = (self.written / CHUNK, self.written % CHUNK);
            let end = self.staged.len().min((chunk + 1) * CHUNK);
            queue.write_buffer(&self.chunks[chunk], start as u64, &self.staged[self.written..end]);
            self.written = end;
        }
    }

    /// Ends a recording: the next starts at slot 0 again; stale bind groups are dropped.
    fn finish(&mut self) {
        self.staged.clear();
        self.written = 0;
        self.submits += 1;
        if self.submits.is_multiple_of(KEEP_SUBMITS) {
            let oldest = self.submits.saturating_sub(KEEP_SUBMITS);
            self.cache.retain(|_, (_, used)| *used >= oldest);
        }
    }
}

/// Arenas not in use by an [`super::Ops`]; usually one (steps run one after another).
#[derive(Default)]
pub(crate) struct BindingPool {
    inner: Mutex<PoolInner>,
}

#[derive(Default)]
struct PoolInner {
    free: Vec<Arena>,
    generation: u64,
}

impl BindingPool {
    pub fn take(&self) -> Arena {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut arena = inner.free.pop().unwrap_or_default();
        arena.generation = inner.generation;
        arena
    }

    pub fn give_back(&self, mut arena: Arena) {
        arena.finish();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if arena.generation != inner.generation {
            arena.cache.clear();
        }
        inner.free.push(arena);
    }

    /// Drops every cached bind group (arenas in use drop theirs when given back), so the
    /// buffers of a model or state that went away are freed.
    pub fn forget(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.generation += 1;
        for arena in &mut inner.free {
            arena.cache.clear();
        }
    }
}
