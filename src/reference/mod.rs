//! The reference backend: the whole forward pass in plain f32 Rust, written to be read.
//!
//! This is the oracle that every GPU kernel and the GPU forward pass are checked against.
//! Weights stay in their GGUF encoding and are dequantized one row at a time as they are
//! used, so the reference never holds an f32 copy of the model.

pub mod blocks;
pub mod ops;
mod trace;

pub use blocks::KvCache;
pub use trace::{Routing, Trace};

use blocks::{attn_block, conv_block, mlp_block, moe_block};
use ops::{add, embed, linear, rms_norm};

use crate::gguf::Gguf;
use crate::model::{Config, Ffn, HostTensor, LayerKind, Mixer, ModelError, SharedBytes, Weights};

/// Which positions of a forward call to compute logits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// None: only advance the state (e.g. prefill of a prompt whose logits nobody reads).
    None,
    Last,
    All,
}

pub struct ReferenceModel {
    pub config: Config,
    weights: Weights<HostTensor, Vec<f32>>,
}

/// Per-layer recurrent state of one sequence.
#[derive(Clone)]
enum LayerState {
    /// The last L-1 values of `B*x` per channel, (L-1, hidden), oldest first.
    Conv(Vec<f32>),
    Attn(KvCache),
}

/// Everything the model remembers of a sequence: conv tails and KV caches.
#[derive(Clone)]
pub struct State {
    /// Tokens consumed so far (the position of the next token).
    pub pos: usize,
    layers: Vec<LayerState>,
}

/// What a [`State`] needs to return to an earlier position: the position and the conv tails
/// there (KV caches are simply cut back; conv state cannot be, so it is saved).
#[derive(Clone)]
pub struct Checkpoint {
    pub pos: usize,
    conv: Vec<Option<Vec<f32>>>,
}

impl State {
    pub fn checkpoint(&self) -> Checkpoint {
        let conv =
            self.layers.iter().map(|l| if let LayerState::Conv(t) = l { Some(t.clone()) } else { None }).collect();
        Checkpoint { pos: self.pos, conv }
    }

    /// Returns to `cp`, which must come from this sequence at or before its current position.
    pub fn restore(&mut self, cp: &Checkpoint) -> Result<(), ModelError> {
        if cp.pos > self.pos || cp.conv.len() != self.layers.len() {
            return Err(ModelError::BadCheckpoint { at: cp.pos, pos: self.pos });
        }
        for (layer, saved) in self.layers.iter_mut().zip(&cp.conv) {
            match (layer, saved) {
                (LayerState::Conv(tail), Some(s)) => tail.copy_from_slice(s),
                (LayerState::Attn(kv), None) => {
                    let width = kv.k.len() / self.pos.max(1);
                    kv.k.truncate(cp.pos * width);
                    kv.v.truncate(cp.pos * width);
                }
                _ => return Err(ModelError::BadCheckpoint { at: cp.pos, pos: self.pos }),
            }
        }
        self.pos = cp.pos;
        Ok(())
    }
}

impl ReferenceModel {
    /// Builds the model from a parsed header and the bytes of the whole file.
    pub fn new(gguf: &Gguf, file: &SharedBytes) -> Result<ReferenceModel, ModelError> {
        let config = Config::from_gguf(gguf)?;
        let weights = Weights::load(
            &config,
            gguf,
            |info| HostTensor::from_file(gguf, file, info),
            |info| Ok(HostTensor::from_file(gguf, file, info)?.to_f32()),
        )?;
        Ok(ReferenceModel { config, weights })
    }

    /// A fresh sequence: zero conv state, empty KV caches.
    pub fn new_state(&self) -> State {
        let c = &self.config;
        let layers = c
            .layers
            .iter()
            .map(|k| match k {
                LayerKind::Conv => LayerState::Conv(vec![0.0; (c.conv_kernel - 1) * c.hidden]),
                LayerKind::Attention { .. } => LayerState::Attn(KvCache::default()),
            })
            .collect();
        State { pos: 0, layers }
    }

    /// Feeds `tokens` after what `state` has seen and returns logits, (rows, vocab) row-major:
    /// one row for `Last`, one per token for `All`. A whole prompt at once and one token at a
    /// time give the same numbers.
    pub fn forward(&self, state: &mut State, tokens: &[u32], want: Logits) -> Result<Vec<f32>, ModelError> {
        self.forward_traced(state, tokens, want, None)
    }

    pub fn forward_traced(
        &self,
        state: &mut State,
        tokens: &[u32],
        want: Logits,
        mut trace: Option<&mut Trace>,
    ) -> Result<Vec<f32>, ModelError> {
        let (c, w) = (&self.config, &self.weights);
        self.check_input(state, tokens)?;
        let mut x = embed(&w.token_embd, tokens); // (T, H)
        if let Some(tr) = trace.as_deref_mut() {
            tr.hidden_states.push(x.clone());
        }
        for (i, (layer, ls)) in w.layers.iter().zip(&mut state.layers).enumerate() {
            let u = rms_norm(&x, &layer.mixer_norm, c.norm_eps);
            let y = match (&layer.mixer, ls) {
                (Mixer::Conv(conv), LayerState::Conv(tail)) => conv_block(conv, &u, tail, c.hidden),
                (Mixer::Attn(attn), LayerState::Attn(kv)) => attn_block(attn, &u, kv, state.pos, c),
                _ => unreachable!("state is built from the same config as the weights"),
            };
            add(&mut x, &y);

            let u = rms_norm(&x, &layer.ffn_norm, c.norm_eps);
            let y = match &layer.ffn {
                Ffn::Dense(mlp) => mlp_block(mlp, &u),
                Ffn::Moe(moe) => {
                    let mut routing = trace.is_some().then(|| Routing { layer: i, ..Default::default() });
                    let y = moe_block(moe, &u, c, routing.as_mut());
                    if let (Some(tr), Some(r)) = (trace.as_deref_mut(), routing) {
                        tr.routing.push(r);
                    }
                    y
                }
            };
            add(&mut x, &y);
            if let Some(tr) = trace.as_deref_mut() {
                tr.hidden_states.push(x.clone());
            }
        }
        state.pos += tokens.len();

        let rows = match want {
            Logits::None => return Ok(Vec::new()),
            Logits::Last => &x[x.len() - c.hidden..],
            Logits::All => &x[..],
        };
        let h = rms_norm(rows, &w.output_norm, c.norm_eps);
        if let Some(tr) = trace {
            tr.final_norm = h.clone();
        }
        Ok(linear(&w.token_embd, &h)) // tied head
    }

    fn check_input(&self, state: &State, tokens: &[u32]) -> Result<(), ModelError> {
        let c = &self.config;
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let same_shape = state.layers.len() == c.layers.len()
            && state.layers.iter().zip(&c.layers).all(|(s, k)| {
                matches!(
                    (s, k),
                    (LayerState::Conv(_), LayerKind::Conv) | (LayerState::Attn(_), LayerKind::Attention { .. })
                )
            });
        if !same_shape {
            return Err(ModelError::ForeignState);
        }
        if state.pos + tokens.len() > c.context_length {
            return Err(ModelError::ContextOverflow { needed: state.pos + tokens.len(), limit: c.context_length });
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= c.vocab_size) {
            return Err(ModelError::TokenOutOfRange { id, vocab: c.vocab_size });
        }
        Ok(())
    }
}
