//! One interface over the two backends: the GPU forward pass and the plain-Rust reference.
//! Everything is `async` because the GPU completes on the browser's event loop; natively the
//! futures are driven with `pollster`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::gguf::Gguf;
use crate::gpu::{GpuCheckpoint, GpuContext, GpuError, GpuModel, GpuState};
use crate::model::{Config, ModelError, SharedBytes};
use crate::reference::{Checkpoint, Logits, ReferenceModel, State};
use crate::sampling::Sampler;

pub enum Backend {
    Reference(ReferenceModel),
    Gpu(GpuModel),
}

/// A sequence's state on its backend.
pub enum Sequence {
    Reference(State),
    Gpu(Box<GpuState>),
}

/// A saved position of a [`Sequence`] to return to.
pub enum SavedState {
    Reference(Checkpoint),
    Gpu(GpuCheckpoint),
}

impl Backend {
    /// The GPU backend when `gpu` is given, else the reference, from a whole file in memory.
    pub fn new(gpu: Option<Arc<GpuContext>>, gguf: &Gguf, file: &SharedBytes) -> Result<Backend, ModelError> {
        Ok(match gpu {
            Some(ctx) => Backend::Gpu(GpuModel::new(ctx, gguf, file)?),
            None => Backend::Reference(ReferenceModel::new(gguf, file)?),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Reference(_) => "reference",
            Backend::Gpu(_) => "gpu",
        }
    }

    pub fn config(&self) -> &Config {
        match self {
            Backend::Reference(m) => &m.config,
            Backend::Gpu(m) => &m.config,
        }
    }

    /// A fresh sequence of at most `capacity` tokens (capped at the model's context).
    pub fn new_sequence(&self, capacity: usize) -> Result<Sequence, ModelError> {
        Ok(match self {
            Backend::Reference(m) => Sequence::Reference(m.new_state()),
            Backend::Gpu(m) => Sequence::Gpu(Box::new(m.new_state(capacity.min(m.config.context_length))?)),
        })
    }

    pub async fn forward(&self, seq: &mut Sequence, tokens: &[u32], want: Logits) -> Result<Vec<f32>, ModelError> {
        match (self, seq) {
            (Backend::Reference(m), Sequence::Reference(s)) => m.forward(s, tokens, want),
            (Backend::Gpu(m), Sequence::Gpu(s)) => m.forward(s, tokens, want).await,
            _ => Err(ModelError::ForeignState),
        }
    }

    /// Feeds `tokens` and picks the next token (on the GPU there: only its id is read back).
    pub async fn next_token(
        &self,
        seq: &mut Sequence,
        tokens: &[u32],
        sampler: &mut Sampler,
    ) -> Result<u32, ModelError> {
        match (self, seq) {
            (Backend::Reference(m), Sequence::Reference(s)) => {
                Ok(sampler.sample(&m.forward(s, tokens, Logits::Last)?))
            }
            (Backend::Gpu(m), Sequence::Gpu(s)) => m.forward_sample(s, tokens, sampler).await,
            _ => Err(ModelError::ForeignState),
        }
    }

    /// Waits until the GPU has done the work submitted so far (at once on the reference). A
    /// forward step only submits its work, so a prefill in chunks would otherwise queue them
    /// all at once; waiting between them lets an interrupt stop it within one chunk (in the
    /// browser the wait also yields to the event loop, where the interrupt arrives).
    pub async fn wait_idle(&self) -> Result<(), ModelError> {
        match self {
            Backend::Reference(_) => Ok(()),
            Backend::Gpu(m) => Ok(gpu_idle(&m.ctx).await?),
        }
    }

    pub fn checkpoint(&self, seq: &Sequence) -> Result<SavedState, ModelError> {
        Ok(match (self, seq) {
            (Backend::Reference(_), Sequence::Reference(s)) => SavedState::Reference(s.checkpoint()),
            (Backend::Gpu(m), Sequence::Gpu(s)) => SavedState::Gpu(s.checkpoint(&m.ctx)?),
            _ => return Err(ModelError::ForeignState),
        })
    }

    pub fn restore(&self, seq: &mut Sequence, saved: &SavedState) -> Result<(), ModelError> {
        match (self, seq, saved) {
            (Backend::Reference(_), Sequence::Reference(s), SavedState::Reference(c)) => s.restore(c),
            (Backend::Gpu(m), Sequence::Gpu(s), SavedState::Gpu(c)) => s.restore(&m.ctx, c),
            _ => Err(ModelError::ForeignState),
        }
    }
}

impl Sequence {
    /// Tokens consumed so far.
    pub fn pos(&self) -> usize {
        match self {
            Sequence::Reference(s) => s.pos,
            Sequence::Gpu(s) => s.pos,
        }
    }

    /// Most tokens the sequence can hold.
    pub fn capacity(&self, config: &Config) -> usize {
        match self {
            Sequence::Reference(_) => config.context_length,
            Sequence::Gpu(s) => s.capacity,
        }
    }
}

impl SavedState {
    pub fn pos(&self) -> usize {
        match self {
            SavedState::Reference(c) => c.pos,
            SavedState::Gpu(c) => c.pos,
        }
    }
}

/// Set by wgpu's work-done callback, awaited by [`gpu_idle`].
#[derive(Default)]
struct Idle {
    done: bool,
    waker: Option<Waker>,
}

struct IdleFuture(Arc<Mutex<Idle>>);

impl Future for IdleFuture {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut idle = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if idle.done {
            return Poll::Ready(());
        }
        idle.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Resolves once the work submitted to `ctx`'s queue so far is done (natively the device is
/// polled to completion first, so it is ready at once).
async fn gpu_idle(ctx: &GpuContext) -> Result<(), GpuError> {
    // A lost device has no work to wait for (WebGPU resolves the callback of a lost device's
    // queue too, but there is no need to count on it).
    if let Some(why) = ctx.lost() {
        return Err(GpuError::Readback(format!("the GPU device was lost: {why}")));
    }
    let idle = Arc::new(Mutex::new(Idle::default()));
    let filler = idle.clone();
    ctx.queue.on_submitted_work_done(move || {
        let mut idle = filler.lock().unwrap_or_else(|e| e.into_inner());
        idle.done = true;
        if let Some(w) = idle.waker.take() {
            w.wake();
        }
    });
    // A no-op in the browser, where the callback comes from the event loop.
    ctx.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
    IdleFuture(idle).await;
    Ok(())
}
