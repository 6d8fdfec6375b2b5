//! The model's tensors, by role, with shapes checked against the config.
//!
//! `Weights<T>` is generic over the tensor handle so every backend shares one loader and one
//! set of shape checks: the reference backend holds host bytes, the GPU backend holds buffers.
//! Shapes in comments are row-major `(rows, cols)`; GGUF `ne` order is the reverse.

use crate::gguf::{Gguf, TensorInfo};

use super::config::{Config, LayerKind};
use super::ModelError;

pub struct Weights<T> {
    /// (vocab, hidden): embedding table, also the tied LM head.
    pub token_embd: T,
    /// (hidden): the final RMSNorm (GGUF calls it `token_embd_norm`).
    pub output_norm: T,
    pub layers: Vec<Layer<T>>,
}

pub struct Layer<T> {
    /// (hidden): norm before the mixer (`attn_norm`, used by conv layers too).
    pub mixer_norm: T,
    pub mixer: Mixer<T>,
    /// (hidden): norm before the FFN.
    pub ffn_norm: T,
    pub ffn: Ffn<T>,
}

pub enum Mixer<T> {
    Conv(Conv<T>),
    Attn(Attn<T>),
}

pub struct Conv<T> {
    /// (3 * hidden, hidden): outputs the gates B, C and the input x, in that order.
    pub in_proj: T,
    /// (hidden, L): one depthwise kernel per channel; tap L-1 multiplies the current token.
    pub kernel: T,
    /// (hidden, hidden)
    pub out_proj: T,
}

pub struct Attn<T> {
    /// (n_heads * head_dim, hidden)
    pub q: T,
    /// (n_kv_heads * head_dim, hidden)
    pub k: T,
    /// (n_kv_heads * head_dim, hidden)
    pub v: T,
    /// (hidden, n_heads * head_dim)
    pub o: T,
    /// (head_dim): per-head RMSNorm of queries, before RoPE.
    pub q_norm: T,
    /// (head_dim)
    pub k_norm: T,
    pub n_kv_heads: usize,
}

pub enum Ffn<T> {
    Dense(Mlp<T>),
    Moe(Moe<T>),
}

/// SwiGLU: `down(silu(gate x) * up x)`.
pub struct Mlp<T> {
    /// (ffn, hidden)
    pub gate: T,
    /// (ffn, hidden)
    pub up: T,
    /// (hidden, ffn)
    pub down: T,
}

pub struct Moe<T> {
    /// (n_experts, hidden): router logits.
    pub router: T,
    /// (n_experts): added to the sigmoid scores for *selection* only.
    pub expert_bias: T,
    /// (n_experts, expert_ffn, hidden)
    pub gate_exps: T,
    /// (n_experts, expert_ffn, hidden)
    pub up_exps: T,
    /// (n_experts, hidden, expert_ffn)
    pub down_exps: T,
}

/// Finds tensors by name, checks their shape, and hands them to the backend's `load`.
struct Loader<'a, F> {
    gguf: &'a Gguf,
    load: F,
}

impl<T, F: FnMut(&TensorInfo) -> Result<T, ModelError>> Loader<'_, F> {
    /// `ne` is the expected GGUF shape (innermost dimension first).
    fn get(&mut self, name: &str, ne: &[usize]) -> Result<T, ModelError> {
        let info = self.gguf.tensor(name)?;
        let trim = |d: &[u64]| -> Vec<u64> {
            let mut d = d.to_vec();
            while d.len() > 1 && d.last() == Some(&1) {
                d.pop();
            }
            d
        };
        let want: Vec<u64> = ne.iter().map(|&n| n as u64).collect();
        if trim(&info.dims) != trim(&want) {
            return Err(ModelError::WrongShape { tensor: name.into(), expected: want, found: info.dims.clone() });
        }
        (self.load)(info)
    }
}

impl<T> Weights<T> {
    /// Builds the weight tree of `cfg` from the tensors of `gguf`, calling `load` once per tensor.
    pub fn load(cfg: &Config, gguf: &Gguf, load: impl FnMut(&TensorInfo) -> Result<T, ModelError>) -> Result<Self, ModelError> {
        let mut l = Loader { gguf, load };
        let (h, hd) = (cfg.hidden, cfg.head_dim);
        let token_embd = l.get("token_embd.weight", &[h, cfg.vocab_size])?;
        let output_norm = l.get("token_embd_norm.weight", &[h])?;
        let mut layers = Vec::with_capacity(cfg.layers.len());
        for (i, kind) in cfg.layers.iter().enumerate() {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let mixer_norm = l.get(&n("attn_norm"), &[h])?;
            let mixer = match *kind {
                LayerKind::Conv => Mixer::Conv(Conv {
                    in_proj: l.get(&n("shortconv.in_proj"), &[h, 3 * h])?,
                    kernel: l.get(&n("shortconv.conv"), &[cfg.conv_kernel, h])?,
                    out_proj: l.get(&n("shortconv.out_proj"), &[h, h])?,
                }),
                LayerKind::Attention { n_kv_heads } => Mixer::Attn(Attn {
                    q: l.get(&n("attn_q"), &[h, cfg.n_heads * hd])?,
                    k: l.get(&n("attn_k"), &[h, n_kv_heads * hd])?,
                    v: l.get(&n("attn_v"), &[h, n_kv_heads * hd])?,
                    o: l.get(&n("attn_output"), &[cfg.n_heads * hd, h])?,
                    q_norm: l.get(&n("attn_q_norm"), &[hd])?,
                    k_norm: l.get(&n("attn_k_norm"), &[hd])?,
                    n_kv_heads,
                }),
            };
            let ffn_norm = l.get(&n("ffn_norm"), &[h])?;
            let ffn = match &cfg.moe {
                Some(m) if cfg.is_moe_layer(i) => Ffn::Moe(Moe {
                    router: l.get(&n("ffn_gate_inp"), &[h, m.n_experts])?,
                    expert_bias: l.get(&format!("blk.{i}.exp_probs_b.bias"), &[m.n_experts])?,
                    gate_exps: l.get(&n("ffn_gate_exps"), &[h, m.expert_ffn_dim, m.n_experts])?,
                    up_exps: l.get(&n("ffn_up_exps"), &[h, m.expert_ffn_dim, m.n_experts])?,
                    down_exps: l.get(&n("ffn_down_exps"), &[m.expert_ffn_dim, h, m.n_experts])?,
                }),
                _ => Ffn::Dense(Mlp {
                    gate: l.get(&n("ffn_gate"), &[h, cfg.ffn_dim])?,
                    up: l.get(&n("ffn_up"), &[h, cfg.ffn_dim])?,
                    down: l.get(&n("ffn_down"), &[cfg.ffn_dim, h])?,
                }),
            };
            layers.push(Layer { mixer_norm, mixer, ffn_norm, ffn });
        }
        Ok(Weights { token_embd, output_norm, layers })
    }
}
