//! A sequence's state on the GPU (conv tails, KV caches, a step's scratch buffers), its
//! checkpoints, and the memory it holds. [`super::GpuModel::new_state`] makes one; the forward
//! pass (`forward.rs`) advances it.

use std::sync::Arc;

use crate::model::{LayerKind, ModelError};

use super::bindings::BindingPool;
use super::kernels as k;
use super::model::GpuModel;
use super::scratch::Scratch;
use super::{GpuContext, GpuError, GpuTensor, KvCache, Ops};

/// Tokens a prefill step evaluates unless the tuning says otherwise (`Tuning::prefill_batch`,
/// where it is measured): the scratch buffers for this many rows take 76 MB on the 8B.
pub const PREFILL_BATCH: usize = 256;
/// The most tokens a step may take, whatever the tuning asks.
const MAX_BATCH_LIMIT: usize = 1024;

/// Per-layer recurrent state on the GPU.
pub(super) enum LayerState {
    /// (L-1, H): the last L-1 values of `B*x` per channel, oldest first.
    Conv(GpuTensor),
    Attn(KvCache),
}

/// A sequence's state on the GPU: conv tails, KV caches, and the step's scratch buffers.
pub struct GpuState {
    /// Tokens consumed so far (the position of the next token).
    pub pos: usize,
    /// Most tokens this state can hold (the KV caches' length).
    pub capacity: usize,
    pub(super) layers: Vec<LayerState>,
    pub(super) scratch: Scratch,
    /// The context's cached bind groups, dropped with this state (they hold its buffers).
    pub(super) bindings: Arc<BindingPool>,
}

impl Drop for GpuState {
    fn drop(&mut self) {
        self.bindings.forget();
    }
}

/// A [`GpuState`]'s position and conv states, saved so the sequence can return there (KV rows
/// past a position are simply ignored and later overwritten; conv state cannot be cut back).
pub struct GpuCheckpoint {
    pub pos: usize,
    conv: Vec<Option<GpuTensor>>,
}

/// GPU bytes a [`GpuState`] holds, by kind (`lfm bench`'s memory report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateBytes {
    /// K and V of every attention layer, for the state's whole capacity.
    pub kv: u64,
    /// The conv layers' rolling states.
    pub conv: u64,
    /// Activation buffers of one step (sized for the largest batch).
    pub scratch: u64,
}

impl GpuState {
    /// The GPU memory this state allocated (see [`StateBytes`]).
    pub fn bytes(&self) -> StateBytes {
        let mut b = StateBytes { scratch: self.scratch.bytes(), ..Default::default() };
        for layer in &self.layers {
            match layer {
                LayerState::Conv(t) => b.conv += t.buffer.size(),
                LayerState::Attn(kv) => b.kv += kv.bytes(),
            }
        }
        b
    }

    /// Saves the conv states (a few KB per layer, copied on the GPU) and the position.
    pub fn checkpoint(&self, ctx: &GpuContext) -> Result<GpuCheckpoint, GpuError> {
        let mut ops = Ops::new(ctx);
        let mut conv = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            conv.push(match layer {
                LayerState::Conv(t) => {
                    let copy = GpuTensor::zeros(ctx, "conv.checkpoint", t.rows, t.cols)?;
                    ops.copy(&t.buffer, 0, &copy.buffer, 0, 4 * t.len() as u64);
                    Some(copy)
                }
                LayerState::Attn(_) => None,
            });
        }
        ops.submit();
        Ok(GpuCheckpoint { pos: self.pos, conv })
    }

    /// Returns to `cp`, taken from this sequence at or before its current position.
    pub fn restore(&mut self, ctx: &GpuContext, cp: &GpuCheckpoint) -> Result<(), ModelError> {
        if cp.pos > self.pos || cp.conv.len() != self.layers.len() {
            return Err(ModelError::BadCheckpoint { at: cp.pos, pos: self.pos });
        }
        let mut ops = Ops::new(ctx);
        for (layer, saved) in self.layers.iter().zip(&cp.conv) {
            if let (LayerState::Conv(t), Some(s)) = (layer, saved) {
                ops.copy(&s.buffer, 0, &t.buffer, 0, 4 * t.len() as u64);
            }
        }
        ops.submit();
        self.pos = cp.pos;
        Ok(())
    }
}

impl GpuModel {
    /// A fresh sequence able to hold `capacity` tokens (at most the model's context length),
    /// its KV caches in [`GpuModel::kv_precision`].
    pub fn new_state(&self, capacity: usize) -> Result<GpuState, ModelError> {
        let c = &self.config;
        if capacity == 0 || capacity > c.context_length {
            return Err(ModelError::ContextOverflow { needed: capacity, limit: c.context_length });
        }
        let ctx = &self.ctx;
        let layers =
            c.layers
                .iter()
                .enumerate()
                .map(|(i, kind)| match kind {
                    LayerKind::Conv => GpuTensor::zeros(ctx, &format!("conv_state.{i}"), c.conv_kernel - 1, c.hidden)
                        .map(LayerState::Conv),
                    LayerKind::Attention { n_kv_heads } => {
                        let label = format!("kv.{i}");
                        KvCache::new(ctx, &label, self.kv_precision, *n_kv_heads, c.head_dim, capacity)
                            .map(LayerState::Attn)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
        let batch = self.ctx.tuning.prefill_batch.clamp(1, MAX_BATCH_LIMIT).min(capacity);
        let partials = layers
            .iter()
            .filter_map(|l| match l {
                LayerState::Attn(kv) => Some(k::attention_scratch_len(ctx, kv, batch, c.n_heads)),
                LayerState::Conv(_) => None,
            })
            .max()
            .unwrap_or(1);
        let scratch = Scratch::new(ctx, c, batch, partials)?;
        ctx.take_error()?; // a KV cache that did not fit
        Ok(GpuState { pos: 0, capacity, layers, scratch, bindings: ctx.bindings.clone() })
    }
}
