//! Model hyperparameters, read from GGUF metadata exactly as llama.cpp's converter writes them.

use serde::Serialize;

use crate::gguf::{Gguf, GgufError};

use super::ModelError;

/// The two LFM2 architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Dense LFM2 / LFM2.5 (350M .. 2.6B): every layer has a SwiGLU MLP.
    Lfm2,
    /// LFM2-8B-A1B, LFM2.5-8B-A1B: leading dense layers, then mixture-of-experts FFNs.
    Lfm2Moe,
}

impl Arch {
    pub fn gguf_name(self) -> &'static str {
        match self {
            Arch::Lfm2 => "lfm2",
            Arch::Lfm2Moe => "lfm2moe",
        }
    }
}

/// What a layer mixes tokens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Double-gated short causal convolution ("LIV" block).
    Conv,
    /// Grouped-query attention with `n_kv_heads` key/value heads.
    Attention { n_kv_heads: usize },
}

/// Mixture-of-experts settings (arch `lfm2moe` only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MoeConfig {
    pub n_experts: usize,
    /// Experts routed per token (top-k).
    pub n_experts_used: usize,
    /// Hidden width of one expert's SwiGLU.
    pub expert_ffn_dim: usize,
    /// The first this-many layers use a dense MLP instead of experts.
    pub leading_dense_layers: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub arch: Arch,
    pub hidden: usize,
    pub layers: Vec<LayerKind>,
    pub n_heads: usize,
    pub head_dim: usize,
    /// Hidden width of the dense SwiGLU MLPs.
    pub ffn_dim: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub rope_theta: f32,
    pub norm_eps: f32,
    /// Short-convolution kernel length L (the conv state keeps L-1 steps).
    pub conv_kernel: usize,
    pub moe: Option<MoeConfig>,
}

/// More layers than any model has (LFM2s have 16 to 30): a corrupt `block_count` fails here
/// instead of sizing per-layer lists.
const MAX_LAYERS: usize = 1 << 16;

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config, ModelError> {
        let arch = match g.get_str("general.architecture")? {
            "lfm2" => Arch::Lfm2,
            "lfm2moe" => Arch::Lfm2Moe,
            other => return Err(ModelError::UnsupportedArch(other.to_string())),
        };
        let key = |k: &str| format!("{}.{k}", arch.gguf_name());
        let usize_of = |k: &str| g.get_usize(&key(k));

        let hidden = usize_of("embedding_length")?;
        let n_layers = usize_of("block_count")?;
        if n_layers > MAX_LAYERS {
            return Err(ModelError::BadConfig(format!("block_count {n_layers} is over {MAX_LAYERS}")));
        }
        let n_heads = usize_of("attention.head_count")?;
        let kv_key = key("attention.head_count_kv");
        // One entry per layer (0 = conv layer); a scalar would mean "all attention".
        let kv_heads: Vec<i64> = match g.get(&kv_key)? {
            v if v.as_array().is_some() => g.get_i64_array(&kv_key)?,
            _ => vec![g.get_u64(&kv_key)? as i64; n_layers],
        };
        if kv_heads.len() != n_layers {
            return Err(ModelError::BadConfig(format!(
                "`{kv_key}` has {} entries for {n_layers} layers",
                kv_heads.len()
            )));
        }
        let bad = |msg: String| ModelError::BadConfig(msg);
        if hidden == 0 || n_heads == 0 || hidden % n_heads != 0 {
            return Err(bad(format!("embedding_length {hidden} is not a positive multiple of head_count {n_heads}")));
        }
        let head_dim = hidden / n_heads;
        if head_dim % 2 != 0 {
            return Err(bad(format!("head dimension {head_dim} must be even for RoPE")));
        }
        let layers = kv_heads
            .iter()
            .enumerate()
            .map(|(i, &n)| match n {
                0 => Ok(LayerKind::Conv),
                n if n > 0 && n_heads % n as usize == 0 => Ok(LayerKind::Attention { n_kv_heads: n as usize }),
                n => Err(bad(format!("layer {i}: {n} kv heads does not divide {n_heads} heads"))),
            })
            .collect::<Result<Vec<_>, _>>()?;

        let vocab_size = match g.get_usize(&key("vocab_size")) {
            Ok(v) => v,
            Err(GgufError::MissingKey(_)) => g.tensor("token_embd.weight")?.dims.get(1).copied().unwrap_or(0) as usize,
            Err(e) => return Err(e.into()),
        };
        let moe = match arch {
            Arch::Lfm2 => None,
            Arch::Lfm2Moe => {
                if let Ok(f) = g.get_u64(&key("expert_gating_func")) {
                    if f != 2 {
                        return Err(bad(format!(
                            "expert_gating_func {f} is not supported (LFM2-MoE uses 2 = sigmoid)"
                        )));
                    }
                }
                let m = MoeConfig {
                    n_experts: usize_of("expert_count")?,
                    n_experts_used: usize_of("expert_used_count")?,
                    expert_ffn_dim: usize_of("expert_feed_forward_length")?,
                    leading_dense_layers: usize_of("leading_dense_block_count")?,
                };
                if m.n_experts_used == 0 || m.n_experts_used > m.n_experts {
                    return Err(bad(format!("expert_used_count {} must be in 1..={}", m.n_experts_used, m.n_experts)));
                }
                Some(m)
            }
        };
        let cfg = Config {
            arch,
            hidden,
            layers,
            n_heads,
            head_dim,
            ffn_dim: usize_of("feed_forward_length")?,
            vocab_size,
            context_length: usize_of("context_length")?,
            rope_theta: g.get_f32(&key("rope.freq_base"))?,
            norm_eps: g.get_f32(&key("attention.layer_norm_rms_epsilon"))?,
            conv_kernel: usize_of("shortconv.l_cache")?,
            moe,
        };
        if cfg.conv_kernel == 0 || vocab_size == 0 || cfg.context_length == 0 {
            return Err(bad("shortconv.l_cache, vocab_size and context_length must be positive".into()));
        }
        Ok(cfg)
    }

    /// Whether layer `i` uses a mixture of experts (else a dense MLP).
    pub fn is_moe_layer(&self, i: usize) -> bool {
        self.moe.as_ref().is_some_and(|m| i >= m.leading_dense_layers)
    }

    pub fn n_attention_layers(&self) -> usize {
        self.layers.iter().filter(|k| matches!(k, LayerKind::Attention { .. })).count()
    }
}
