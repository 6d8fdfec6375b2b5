//! Optional record of intermediate values, to pin a wrong number to the layer that made it.

/// Router outputs of one MoE layer over the positions of one forward call.
#[derive(Clone, Debug, Default)]
pub struct Routing {
    pub layer: usize,
    /// (T, n_experts) router logits before the sigmoid.
    pub logits: Vec<f32>,
    /// (T, k) chosen experts, best first.
    pub selected: Vec<u32>,
    /// (T, k) their normalized weights.
    pub weights: Vec<f32>,
}

#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Residual stream: [0] the embeddings, [i + 1] the output of layer i; each (T, hidden).
    pub hidden_states: Vec<Vec<f32>>,
    /// Final RMSNorm output (T, hidden): the LM head's input.
    pub final_norm: Vec<f32>,
    pub routing: Vec<Routing>,
}
