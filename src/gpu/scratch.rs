//! Activation buffers of one forward step, allocated once for the largest batch and viewed
//! at the step's T rows (the llama2.c `RunState`, on the GPU).

use crate::model::Config;

use super::{GpuContext, GpuError, GpuTensor};

/// Most distinct tokens the GPU repetition penalty looks at (the most recent ones).
pub const PENALTY_WINDOW: usize = 1024;

/// Every intermediate of a step; `B` = the batch capacity (tokens per step). [`Scratch::rows`]
/// gives the same buffers viewed at a step's T rows.
#[derive(Clone)]
pub(crate) struct Scratch {
    /// Rows of the per-token tensors (B when allocated, T in a step's view).
    pub batch: usize,
    /// (B) token ids of the step
    pub tokens: GpuTensor,
    /// (B, H) residual stream
    pub x: GpuTensor,
    /// (B, H) normed input of a block
    pub xb: GpuTensor,
    /// (B, H) a block's output, added to x
    pub y: GpuTensor,
    /// (B, 3H) conv in_proj output: B | C | x
    pub bcx: GpuTensor,
    /// (B, H) C * conv(B * x)
    pub gated: GpuTensor,
    /// (B, n_heads * hd) queries: projected, then normed and roped in place
    pub q: GpuTensor,
    /// (B, n_kv * hd) keys and values as projected (normed, roped and cached by
    /// `qk_norm_rope_store`)
    pub k: GpuTensor,
    pub v: GpuTensor,
    /// (B, n_heads * hd) attention output
    pub attn: GpuTensor,
    /// Split-K partials of the attention kernel, shared by the attention layers
    /// (sized by [`crate::gpu::kernels::attention_scratch_len`]).
    pub attn_partials: GpuTensor,
    /// (B, F) dense SwiGLU gate, up, and silu(gate) * up
    pub ffn_gate: GpuTensor,
    pub ffn_up: GpuTensor,
    pub ffn_h: GpuTensor,
    /// MoE: (B, E) router logits, (B, k) chosen experts and weights,
    /// (B * k, Fe) expert gate / up / hidden, (B * k, H) expert outputs
    pub moe: Option<MoeScratch>,
    /// (1, H) last position's residual and its final norm
    pub last: GpuTensor,
    pub last_normed: GpuTensor,
    /// (1, V) logits of the last position
    pub logits: GpuTensor,
    /// (1) sampled token id
    pub sampled: GpuTensor,
    /// (PENALTY_WINDOW) distinct recent token ids for the repetition penalty
    pub penalty_tokens: GpuTensor,
}

#[derive(Clone)]
pub(crate) struct MoeScratch {
    pub router: GpuTensor,
    pub selected: GpuTensor,
    /// (rows, 4) u32: the prefill's pairs grouped by expert (`kernels::moe_group`)
    pub items: GpuTensor,
    pub weights: GpuTensor,
    pub gate: GpuTensor,
    pub up: GpuTensor,
    pub hidden: GpuTensor,
    pub down: GpuTensor,
}

impl Scratch {
    /// Buffers for steps of up to `batch` tokens; `partials` = elements of attention scratch.
    pub fn new(ctx: &GpuContext, c: &Config, batch: usize, partials: usize) -> Result<Scratch, GpuError> {
        let z = |label: &str, rows: usize, cols: usize| GpuTensor::zeros(ctx, label, rows, cols);
        let (b, h) = (batch, c.hidden);
        let q_width = c.n_heads * c.head_dim;
        let max_kv = c.layers.iter().filter_map(|k| match k {
            crate::model::LayerKind::Attention { n_kv_heads } => Some(*n_kv_heads),
            _ => None,
        });
        let kv_width = max_kv.max().unwrap_or(1) * c.head_dim;
        let moe = match &c.moe {
            None => None,
            Some(m) => {
                let k = m.n_experts_used;
                Some(MoeScratch {
                    router: z("moe.router", b, m.n_experts)?,
                    selected: GpuTensor::from_u32(ctx, "moe.selected", b, k, &vec![0; b * k])?,
                    items: {
                        let rows = crate::gpu::kernels::moe_items_rows(b * k, m.n_experts);
                        GpuTensor::from_u32(ctx, "moe.items", rows, 4, &vec![0; rows * 4])?
                    },
                    weights: z("moe.weights", b, k)?,
                    gate: z("moe.gate", b * k, m.expert_ffn_dim)?,
                    up: z("moe.up", b * k, m.expert_ffn_dim)?,
                    hidden: z("moe.hidden", b * k, m.expert_ffn_dim)?,
                    down: z("moe.down", b * k, h)?,
                })
            }
        };
        Ok(Scratch {
            batch,
            tokens: GpuTensor::from_u32(ctx, "tokens", b, 1, &vec![0; b])?,
            x: z("x", b, h)?,
            xb: z("xb", b, h)?,
            y: z("y", b, h)?,
            bcx: z("bcx", b, 3 * h)?,
            gated: z("gated", b, h)?,
            q: z("q", b, q_width)?,
            k: z("k", b, kv_width)?,
            v: z("v", b, kv_width)?,
            attn: z("attn", b, q_width)?,
            attn_partials: z("attn.partials", partials.max(1), 1)?,
            ffn_gate: z("ffn.gate", b, c.ffn_dim)?,
            ffn_up: z("ffn.up", b, c.ffn_dim)?,
            ffn_h: z("ffn.h", b, c.ffn_dim)?,
            moe,
            last: z("last", 1, h)?,
            last_normed: z("last.normed", 1, h)?,
            logits: z("logits", 1, c.vocab_size)?,
            sampled: GpuTensor::from_u32(ctx, "sampled", 1, 1, &[0])?,
            penalty_tokens: GpuTensor::from_u32(ctx, "penalty.tokens", PENALTY_WINDOW, 1, &[0; PENALTY_WINDOW])?,
        })
    }

    /// GPU bytes of every buffer (as allocated, at the batch capacity).
    pub fn bytes(&self) -> u64 {
        let mut all = vec![
            &self.tokens,
            &self.x,
            &self.xb,
            &self.y,
            &self.bcx,
            &self.gated,
            &self.q,
            &self.k,
            &self.v,
            &self.attn,
            &self.attn_partials,
            &self.ffn_gate,
            &self.ffn_up,
            &self.ffn_h,
            &self.last,
            &self.last_normed,
            &self.logits,
            &self.sampled,
            &self.penalty_tokens,
        ];
        if let Some(m) = &self.moe {
            all.extend([&m.router, &m.selected, &m.items, &m.weights, &m.gate, &m.up, &m.hidden, &m.down]);
        }
        all.iter().map(|t| t.buffer.size()).sum()
    }

    /// The same buffers seen at `t` rows (t <= batch): what one step's kernels bind.
    pub fn rows(&self, t: usize) -> Result<Scratch, GpuError> {
        let v = |x: &GpuTensor| x.view(t, x.cols);
        let moe = match &self.moe {
            None => None,
            Some(m) => {
                let per_slot = |x: &GpuTensor| x.view(t * m.selected.cols, x.cols);
                Some(MoeScratch {
                    router: v(&m.router)?,
                    selected: v(&m.selected)?,
                    items: m.items.clone(),
                    weights: v(&m.weights)?,
                    gate: per_slot(&m.gate)?,
                    up: per_slot(&m.up)?,
                    hidden: per_slot(&m.hidden)?,
                    down: per_slot(&m.down)?,
                })
            }
        };
        Ok(Scratch {
            batch: t,
            tokens: v(&self.tokens)?,
            x: v(&self.x)?,
            xb: v(&self.xb)?,
            y: v(&self.y)?,
            bcx: v(&self.bcx)?,
            gated: v(&self.gated)?,
            q: v(&self.q)?,
            attn: v(&self.attn)?,
            ffn_gate: v(&self.ffn_gate)?,
            ffn_up: v(&self.ffn_up)?,
            ffn_h: v(&self.ffn_h)?,
            moe,
            // Viewed per layer (their width depends on the layer's kv heads) or not per token.
            ..self.clone()
        })
    }
}
