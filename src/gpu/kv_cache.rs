//! The KV cache of one attention layer: K and V rows of every position so far, laid out
//! `(positions, n_kv_heads * head_dim)` and split by position into blocks, each block a pair of
//! buffers no larger than one storage binding (a 128K-token context of 8 kv heads x 64 is
//! 128 MiB per K in f16: exactly lavapipe's and many phones' limit). Attention runs one split-K
//! dispatch per block (`kernels::attention`); new rows go in with `kernels::qk_norm_rope_store`
//! (the forward pass: normed and roped K) or `kernels::kv_store` (rows as given).
//!
//! Elements are f16 by default ([`KvPrecision`]): pairs packed in u32s, written with
//! `pack2x16float` and read with `unpack2x16float`, so every adapter does f32 arithmetic on
//! them. Attention over a long context reads the whole cache every token, and 128K positions
//! of the 8B's 6 attention layers are 1.5 GiB in f16 against 3 GiB in f32. The f16 rounding
//! (2^-11 relative) moves logits by a few 1e-3 (tests/gpu_golden.rs measures it), which is why
//! f32 stays available: it matches the Hugging Face goldens to 1e-3.

use super::context::{GpuContext, GpuError};

/// How a [`KvCache`] stores its elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvPrecision {
    /// Half the memory and half the attention reads; what llama.cpp keeps by default too.
    #[default]
    F16,
    /// Exact: K and V as the f32 arithmetic produced them.
    F32,
}

impl KvPrecision {
    /// Bytes of one cached K or V element.
    pub const fn element_bytes(self) -> u64 {
        match self {
            KvPrecision::F16 => 2,
            KvPrecision::F32 => 4,
        }
    }
}

/// Positions `first_pos .. first_pos + positions` of a cache: one K and one V buffer, each
/// `(positions, n_kv_heads * head_dim)` in the cache's precision (f16 two per u32, the lower
/// half first).
pub struct KvBlock {
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    pub first_pos: usize,
    pub positions: usize,
}

/// One attention layer's K and V for up to `capacity` positions.
pub struct KvCache {
    pub precision: KvPrecision,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Positions the cache can hold (the context length chosen at creation).
    pub capacity: usize,
    /// Positions per block (the last block may hold fewer).
    pub block_positions: usize,
    pub blocks: Vec<KvBlock>,
}

const USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl KvCache {
    /// A zeroed cache of `capacity` positions in blocks as large as one binding allows.
    pub fn new(
        ctx: &GpuContext,
        label: &str,
        precision: KvPrecision,
        n_kv_heads: usize,
        head_dim: usize,
        capacity: usize,
    ) -> Result<KvCache, GpuError> {
        Self::with_block_positions(ctx, label, precision, n_kv_heads, head_dim, capacity, usize::MAX)
    }

    /// As [`KvCache::new`] with at most `block_positions` positions per block (still within
    /// the binding limit): lets tests spread a short sequence over several buffers.
    pub fn with_block_positions(
        ctx: &GpuContext,
        label: &str,
        precision: KvPrecision,
        n_kv_heads: usize,
        head_dim: usize,
        capacity: usize,
        block_positions: usize,
    ) -> Result<KvCache, GpuError> {
        // The attention kernel reads K rows as vec4s.
        if n_kv_heads == 0 || head_dim == 0 || !head_dim.is_multiple_of(4) || capacity == 0 || block_positions == 0 {
            return Err(GpuError::Shape(format!(
                "{label}: a KV cache of {capacity} positions, {n_kv_heads} kv heads of {head_dim} \
                 (head_dim must be a multiple of 4), blocks of {block_positions}"
            )));
        }
        let row_bytes = precision.element_bytes() * (n_kv_heads * head_dim) as u64;
        let fit = ctx.max_binding_bytes() / row_bytes;
        if fit == 0 {
            let what = format!("{label}: one KV row");
            return Err(GpuError::BindingTooLarge { what, bytes: row_bytes, limit: ctx.max_binding_bytes() });
        }
        let block_positions = block_positions.min(fit as usize).min(capacity);
        let blocks = (0..capacity.div_ceil(block_positions))
            .map(|i| {
                let first_pos = i * block_positions;
                let positions = block_positions.min(capacity - first_pos);
                let buffer = |kind: &str| {
                    ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("{label}.{kind}[{i}]")),
                        size: positions as u64 * row_bytes,
                        usage: USAGE,
                        mapped_at_creation: false,
                    })
                };
                KvBlock { k: buffer("k"), v: buffer("v"), first_pos, positions }
            })
            .collect();
        Ok(KvCache { precision, n_kv_heads, head_dim, capacity, block_positions, blocks })
    }

    /// Elements per position: n_kv_heads * head_dim.
    pub fn row_len(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// GPU bytes of K and V together.
    pub fn bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.k.size() + b.v.size()).sum()
    }

    /// For positions `pos0 .. pos0 + n`: each block touched, with the block-local first row,
    /// the number of rows, and their offset from `pos0`.
    pub fn spans(&self, pos0: usize, n: usize) -> impl Iterator<Item = (&KvBlock, usize, usize, usize)> {
        let end = pos0 + n;
        self.blocks.iter().filter_map(move |b| {
            let lo = pos0.max(b.first_pos);
            let hi = end.min(b.first_pos + b.positions);
            (lo < hi).then(|| (b, lo - b.first_pos, hi - lo, lo - pos0))
        })
    }

    /// Fails unless positions `pos0 .. pos0 + n` fit the cache.
    pub fn check_positions(&self, what: &str, pos0: usize, n: usize) -> Result<(), GpuError> {
        if n == 0 || pos0 + n > self.capacity {
            return Err(GpuError::Shape(format!(
                "{what}: positions {pos0}..{} in a KV cache of {}",
                pos0 + n,
                self.capacity
            )));
        }
        Ok(())
    }

    /// K and V of positions `0 .. n`, each `(n, row_len)`, read back as f32 (tests, debugging).
    pub async fn read(&self, ctx: &GpuContext, n: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        self.check_positions("KvCache::read", 0, n)?;
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let values = |bytes: Vec<u8>| -> Vec<f32> {
            match self.precision {
                KvPrecision::F16 => {
                    bytes.chunks_exact(2).map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32()).collect()
                }
                KvPrecision::F32 => bytemuck::pod_collect_to_vec(&bytes),
            }
        };
        for (block, _, rows, _) in self.spans(0, n) {
            let bytes = rows as u64 * self.row_len() as u64 * self.precision.element_bytes();
            k.extend(values(ctx.read_bytes(&block.k, bytes).await?));
            v.extend(values(ctx.read_bytes(&block.v, bytes).await?));
        }
        Ok((k, v))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_blocking(&self, ctx: &GpuContext, n: usize) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        pollster::block_on(self.read(ctx, n))
    }
}
