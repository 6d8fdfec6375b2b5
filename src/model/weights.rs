//! The model's tensors, by role, with shapes checked against the config.
//!
//! `Weights<M, V>` is generic over the backend's matrix type `M` (weights multiplied by
//! activations, kept in their quantized format) and vector type `V` (norm weights, conv
//! kernels, expert bias: always f32), so every backend shares one loader and one set of shape
//! checks. Shapes in comments are row-major `(rows, cols)`; GGUF `ne` order is the reverse.

use crate::gguf::{Gguf, TensorInfo};

use super::config::{Config, LayerKind};
use super::ModelError;

pub struct Weights<M, V> {
    /// (vocab, hidden): embedding table, also the tied LM head.
    pub token_embd: M,
    /// (hidden): the final RMSNorm (GGUF calls it `token_embd_norm`).
    pub output_norm: V,
    pub layers: Vec<Layer<M, V>>,
}

pub struct Layer<M, V> {
    /// (hidden): norm before the mixer (`attn_norm`, used by conv layers too).
    pub mixer_norm: V,
    pub mixer: Mixer<M, V>,
    /// (hidden): norm before the FFN.
    pub ffn_norm: V,
    pub ffn: Ffn<M, V>,
}

pub enum Mixer<M, V> {
    Conv(Conv<M, V>),
    Attn(Attn<M, V>),
}

pub struct Conv<M, V> {
    /// (3 * hidden, hidden): outputs the gates B, C and the input x, in that order.
    pub in_proj: M,
    /// (hidden, L): one depthwise kernel per channel; tap L-1 multiplies the current token.
    pub kernel: V,
    /// (hidden, hidden)
    pub out_proj: M,
}

pub struct Attn<M, V> {
    /// (n_heads * head_dim, hidden)
    pub q: M,
    /// (n_kv_heads * head_dim, hidden)
    pub k: M,
    /// (n_kv_heads * head_dim, hidden)
    pub v: M,
    /// (hidden, n_heads * head_dim)
    pub o: M,
    /// (head_dim): per-head RMSNorm of queries, before RoPE.
    pub q_norm: V,
    /// (head_dim)
    pub k_norm: V,
    pub n_kv_heads: usize,
}

pub enum Ffn<M, V> {
    Dense(Mlp<M>),
    Moe(Moe<M, V>),
}

/// SwiGLU: `down(silu(gate x) * up x)`.
pub struct Mlp<M> {
    /// (ffn, hidden)
    pub gate: M,
    /// (ffn, hidden)
    pub up: M,
    /// (hidden, ffn)
    pub down: M,
}

pub struct Moe<M, V> {
    /// (n_experts, hidden): router logits.
    pub router: M,
    /// (n_experts): added to the sigmoid scores for *selection* only.
    pub expert_bias: V,
    /// (n_experts, expert_ffn, hidden)
    pub gate_exps: M,
    /// (n_experts, expert_ffn, hidden)
    pub up_exps: M,
    /// (n_experts, hidden, expert_ffn)
    pub down_exps: M,
}

/// Finds tensors by name, checks their shape, and hands them to the backend's loaders.
struct Loader<'a, FM, FV> {
    gguf: &'a Gguf,
    matrix: FM,
    vector: FV,
}

impl<M, V, FM, FV> Loader<'_, FM, FV>
where
    FM: FnMut(&TensorInfo) -> Result<M, ModelError>,
    FV: FnMut(&TensorInfo) -> Result<V, ModelError>,
{
    /// The tensor `name` after checking its GGUF shape `ne` (innermost dimension first).
    fn find(&self, name: &str, ne: &[usize]) -> Result<&'_ TensorInfo, ModelError> {
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
        Ok(info)
    }

    fn m(&mut self, name: &str, ne: &[usize]) -> Result<M, ModelError> {
        let info = self.find(name, ne)?.clone();
        (self.matrix)(&info)
    }

    fn v(&mut self, name: &str, ne: &[usize]) -> Result<V, ModelError> {
        let info = self.find(name, ne)?.clone();
        (self.vector)(&info)
    }
}

impl<M, V> Weights<M, V> {
    /// Builds the weight tree of `cfg` from the tensors of `gguf`, calling `matrix` or `vector`
    /// once per tensor, in file-independent order (embedding, then layer by layer).
    pub fn load(
        cfg: &Config,
        gguf: &Gguf,
        matrix: impl FnMut(&TensorInfo) -> Result<M, ModelError>,
        vector: impl FnMut(&TensorInfo) -> Result<V, ModelError>,
    ) -> Result<Self, ModelError> {
        let mut l = Loader { gguf, matrix, vector };
        let (h, hd) = (cfg.hidden, cfg.head_dim);
        let token_embd = l.m("token_embd.weight", &[h, cfg.vocab_size])?;
        let output_norm = l.v("token_embd_norm.weight", &[h])?;
        let mut layers = Vec::with_capacity(cfg.layers.len());
        for (i, kind) in cfg.layers.iter().enumerate() {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let mixer_norm = l.v(&n("attn_norm"), &[h])?;
            let mixer = match *kind {
                LayerKind::Conv => Mixer::Conv(Conv {
                    in_proj: l.m(&n("shortconv.in_proj"), &[h, 3 * h])?,
                    kernel: l.v(&n("shortconv.conv"), &[cfg.conv_kernel, h])?,
                    out_proj: l.m(&n("shortconv.out_proj"), &[h, h])?,
                }),
                LayerKind::Attention { n_kv_heads } => Mixer::Attn(Attn {
                    q: l.m(&n("attn_q"), &[h, cfg.n_heads * hd])?,
                    k: l.m(&n("attn_k"), &[h, n_kv_heads * hd])?,
                    v: l.m(&n("attn_v"), &[h, n_kv_heads * hd])?,
                    o: l.m(&n("attn_output"), &[cfg.n_heads * hd, h])?,
                    q_norm: l.v(&n("attn_q_norm"), &[hd])?,
                    k_norm: l.v(&n("attn_k_norm"), &[hd])?,
                    n_kv_heads,
                }),
            };
            let ffn_norm = l.v(&n("ffn_norm"), &[h])?;
            let ffn = match &cfg.moe {
                Some(m) if cfg.is_moe_layer(i) => Ffn::Moe(Moe {
                    router: l.m(&n("ffn_gate_inp"), &[h, m.n_experts])?,
                    expert_bias: l.v(&format!("blk.{i}.exp_probs_b.bias"), &[m.n_experts])?,
                    gate_exps: l.m(&n("ffn_gate_exps"), &[h, m.expert_ffn_dim, m.n_experts])?,
                    up_exps: l.m(&n("ffn_up_exps"), &[h, m.expert_ffn_dim, m.n_experts])?,
                    down_exps: l.m(&n("ffn_down_exps"), &[m.expert_ffn_dim, h, m.n_experts])?,
                }),
                _ => Ffn::Dense(Mlp {
                    gate: l.m(&n("ffn_gate"), &[h, cfg.ffn_dim])?,
                    up: l.m(&n("ffn_up"), &[h, cfg.ffn_dim])?,
                    down: l.m(&n("ffn_down"), &[cfg.ffn_dim, h])?,
                }),
            };
            layers.push(Layer { mixer_norm, mixer, ffn_norm, ffn });
        }
        Ok(Weights { token_embd, output_norm, layers })
    }

    /// Every matrix, embedding first, then layer by layer in the order `load` takes them.
    pub fn matrices_mut(&mut self) -> Vec<&mut M> {
        let mut out = vec![&mut self.token_embd];
        for layer in &mut self.layers {
            match &mut layer.mixer {
                Mixer::Conv(c) => out.extend([&mut c.in_proj, &mut c.out_proj]),
                Mixer::Attn(a) => out.extend([&mut a.q, &mut a.k, &mut a.v, &mut a.o]),
            }
            match &mut layer.ffn {
                Ffn::Moe(m) => out.extend([&mut m.router, &mut m.gate_exps, &mut m.up_exps, &mut m.down_exps]),
                Ffn::Dense(m) => out.extend([&mut m.gate, &mut m.up, &mut m.down]),
            }
        }
        out
    }
}
