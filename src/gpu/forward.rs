//! The forward pass on the GPU. It reads like the reference (`crate::reference`): one
//! function per block type, one named kernel call a line. A step records every layer into
//! one command encoder and submits once; the only readback is the sampled token id (or the
//! logits, when asked).

use crate::model::{Attn, Config, Conv, Ffn, LayerKind, Mixer, Mlp, ModelError, Moe};
use crate::reference::Logits;
use crate::sampling::{Sampler, SamplingParams};

use super::block_io::{linear, linear_in, project_out, Input};
use super::kernels as k;
use super::model::GpuModel;
use super::scratch::{MoeScratch, Scratch};
use super::state::{GpuState, LayerState};
use super::{GpuError, GpuMatrix, GpuTensor, KvCache, Ops};

/// Short-conv block: `out_proj(C * conv(B * x))` with the rolling conv state; a decoded
/// token's convolution runs in in_proj's launch (`Tuning::fused_conv`).
fn conv_block(
    ops: &mut Ops<'_>,
    c: &Conv<GpuMatrix, GpuTensor>,
    s: &Scratch,
    input: Input<'_>,
    state: &GpuTensor,
) -> Result<(), GpuError> {
    if s.batch == 1 && ops.ctx().tuning.fused_conv && k::conv_in_proj_fits(&c.in_proj) {
        k::conv_in_proj(ops, &c.in_proj, input.x, input.norm, &c.kernel, state, &s.gated)?;
    } else {
        linear_in(ops, &c.in_proj, input, &s.bcx)?;
        k::short_conv(ops, &s.bcx, &c.kernel, state, &s.gated)?;
    }
    project_out(ops, &c.out_proj, &s.gated, s, input)
}

/// Attention block: QK-normed, roped GQA over the KV cache.
#[allow(clippy::too_many_arguments)]
fn attn_block(
    ops: &mut Ops<'_>,
    m: &GpuModel,
    a: &Attn<GpuMatrix, GpuTensor>,
    s: &Scratch,
    input: Input<'_>,
    kv: &KvCache,
    pos0: usize,
) -> Result<(), GpuError> {
    let (c, t) = (&m.config, s.batch);
    let kv_width = a.n_kv_heads * c.head_dim;
    let (k, v) = (s.k.view(t, kv_width)?, s.v.view(t, kv_width)?);
    linear_in(ops, &a.q, input, &s.q)?;
    linear(ops, &a.k, input.published().x, &k)?;
    linear(ops, &a.v, input.published().x, &v)?;
    // Per head: q and k RMS-normed and roped; k and v into the cache; q in place.
    k::qk_norm_rope_store(ops, [&s.q, &k, &v], [&a.q_norm, &a.k_norm], c.norm_eps, &m.rope, kv, pos0)?;
    k::attention(ops, &s.q, kv, pos0, &s.attn_partials, &s.attn)?;
    project_out(ops, &a.o, &s.attn, s, input)
}

/// Dense SwiGLU MLP: `down(silu(gate x) * up x)`, then the residual add and the next norm
/// (unless the next block takes it).
fn mlp_block(
    ops: &mut Ops<'_>,
    c: &Config,
    mlp: &Mlp<GpuMatrix>,
    s: &Scratch,
    input: Input<'_>,
    next_norm: Option<&GpuTensor>,
) -> Result<(), GpuError> {
    if s.batch == 1 && mlp.gate.pairs_with(&mlp.up) {
        k::gate_up(ops, &mlp.gate, &mlp.up, input.x, input.norm, &s.ffn_h)?; // paired at load (`GpuModel`)
    } else {
        linear_in(ops, &mlp.gate, input, &s.ffn_gate)?;
        linear(ops, &mlp.up, input.published().x, &s.ffn_up)?;
        k::swiglu(ops, &s.ffn_gate, &s.ffn_up, &s.ffn_h)?;
    }
    project_out(ops, &mlp.down, &s.ffn_h, s, input)?;
    match input.adds_out {
        true => Ok(()),
        false => add_norm(ops, c, s, next_norm),
    }
}

/// The residual add of a block's output `y`, fused with the norm that follows it: x += y,
/// xb = norm(x). After the last layer only the add (the final norm runs on the last row
/// only, in the finish).
fn add_norm(ops: &mut Ops<'_>, c: &Config, s: &Scratch, next_norm: Option<&GpuTensor>) -> Result<(), GpuError> {
    match next_norm {
        Some(norm) => k::add_rms_norm(ops, &s.x, &s.y, norm, c.norm_eps, &s.xb),
        None => k::add(ops, &s.x, &s.y),
    }
}

/// Mixture of experts, routed on the GPU: only the chosen experts' weights are read. Ends
/// with the residual add: in the down projections' launch after a fused input
/// (`moe_down_add`), else with the next norm, on GPUs fused with the weighted sum of the
/// experts' outputs (`Tuning::fused_moe_norm`).
fn moe_block(
    ops: &mut Ops<'_>,
    c: &Config,
    moe: &Moe<GpuMatrix, GpuTensor>,
    s: &Scratch,
    input: Input<'_>,
    next_norm: Option<&GpuTensor>,
) -> Result<(), GpuError> {
    let cfg = c.moe.as_ref().expect("MoE weights come with a MoE config");
    let m = s.moe.as_ref().expect("MoE scratch for a MoE config");
    let tuning = ops.ctx().tuning;
    // A batch: the (token, slot) pairs grouped by expert, each expert decoded once per 4
    // pairs (where that pays: `Tuning::group_experts`, `group_min_pairs`).
    let pairs = s.batch * cfg.n_experts_used;
    let grouped = s.batch > 1 && tuning.group_experts && pairs >= tuning.group_min_pairs * cfg.n_experts;
    let (gate, up, fe) = (&moe.gate_exps, &moe.up_exps, cfg.expert_ffn_dim);
    // A decoded token's top-k can happen in the gate and up experts' launch (GPUs).
    let late_route = !tuning.fused_router && tuning.route_in_gate_up && !grouped && gate.pairs_with(up);
    if tuning.fused_router {
        let x = input.normed(ops)?.x;
        k::moe_router(ops, &moe.router, x, &moe.expert_bias, &m.selected, &m.weights)?;
    } else {
        linear_in(ops, &moe.router, input, &m.router)?; // norms the input, stores it for the experts
    }
    if !tuning.fused_router && !late_route {
        k::moe_route(ops, &m.router, &moe.expert_bias, &m.selected, &m.weights)?;
    }
    if grouped {
        k::moe_group(ops, &m.selected, cfg.n_experts, &m.items)?;
    }
    gate_up_experts(ops, grouped, late_route, moe, fe, m, input.published().x)?;
    let (down, slots) = (&moe.down_exps, m.selected.cols);
    if input.adds_out && !grouped && k::moe_down_add_fits(down, slots) {
        return k::moe_down_add(ops, down, &m.selected, &m.weights, &m.hidden, &s.x);
    }
    // Else the sum and the add as without fused norms (the norm they store is not read then).
    experts(ops, grouped, down, c.hidden, m, &m.hidden, &m.down)?;
    match next_norm {
        Some(norm) if tuning.fused_moe_norm => {
            k::moe_add_rms_norm(ops, &s.x, &m.down, &m.weights, norm, c.norm_eps, &s.xb)
        }
        _ => {
            k::moe_combine(ops, &m.down, &m.weights, &s.y)?;
            add_norm(ops, c, s, next_norm)
        }
    }
}

/// silu(gate) * up of the routed experts into `m.hidden`: one launch where the two are
/// interleaved in shared buffers (`GpuModel` pairs them at load), with the top-k choice in it
/// when `late_route` (the router's logits in `m.router`), else both products, then `swiglu`.
fn gate_up_experts(
    ops: &mut Ops<'_>,
    grouped: bool,
    late_route: bool,
    moe: &Moe<GpuMatrix, GpuTensor>,
    rows_per_expert: usize,
    m: &MoeScratch,
    x: &GpuTensor,
) -> Result<(), GpuError> {
    let (gate, up, fe) = (&moe.gate_exps, &moe.up_exps, rows_per_expert);
    let (selected, weights, y) = (&m.selected, &m.weights, &m.hidden);
    match (gate.pairs_with(up), grouped) {
        (true, false) if late_route => {
            k::moe_route_gate_up(ops, gate, up, fe, &m.router, &moe.expert_bias, selected, weights, x, y)
        }
        (true, true) => k::moe_batch_gate_up(ops, gate, up, fe, selected, &m.items, x, y),
        (true, false) => k::moe_gate_up(ops, gate, up, fe, selected, x, y),
        (false, _) => {
            experts(ops, grouped, gate, fe, m, x, &m.gate)?;
            experts(ops, grouped, up, fe, m, x, &m.up)?;
            k::swiglu(ops, &m.gate, &m.up, y)
        }
    }
}

/// The routed experts' products: per work item of `moe_group` when `grouped`, else per
/// (token, slot) pair.
fn experts(
    ops: &mut Ops<'_>,
    grouped: bool,
    w: &GpuMatrix,
    rows_per_expert: usize,
    m: &MoeScratch,
    x: &GpuTensor,
    y: &GpuTensor,
) -> Result<(), GpuError> {
    match grouped {
        true => k::moe_batch_matvec(ops, w, rows_per_expert, &m.selected, &m.items, x, y),
        false => k::moe_matvec(ops, w, rows_per_expert, &m.selected, x, y),
    }
}

impl GpuModel {
    /// Records one step of `t` tokens (already written to `scratch.tokens`) through every
    /// layer; the residual stream ends in `scratch.x`.
    fn record_layers(&self, ops: &mut Ops<'_>, st: &GpuState, s: &Scratch) -> Result<(), GpuError> {
        let (c, w) = (&self.config, &self.weights);
        // Each residual add is fused with the norm that follows it (`add_rms_norm`): x += y,
        // xb = norm(x); the FFN blocks end with theirs. Or (`fused_norms`) each block's first
        // kernels norm x themselves and its last one adds into x.
        let fused = self.fuses_norms(ops, s);
        k::embed(ops, &w.token_embd, &s.tokens, &s.x)?;
        if let (Some(first), false) = (w.layers.first(), fused) {
            k::rms_norm(ops, &s.x, &first.mixer_norm, c.norm_eps, &s.xb)?;
        }
        for (i, (layer, ls)) in w.layers.iter().zip(&st.layers).enumerate() {
            let mixer_in = Input::new(s, fused, &layer.mixer_norm, c.norm_eps);
            match (&layer.mixer, ls) {
                (Mixer::Conv(conv), LayerState::Conv(tail)) => conv_block(ops, conv, s, mixer_in, tail)?,
                (Mixer::Attn(attn), LayerState::Attn(kv)) => attn_block(ops, self, attn, s, mixer_in, kv, st.pos)?,
                _ => unreachable!("state is built from the same config as the weights"),
            }
            if !fused {
                add_norm(ops, c, s, Some(&layer.ffn_norm))?;
            }

            let (ffn_in, next_norm) =
                (Input::new(s, fused, &layer.ffn_norm, c.norm_eps), w.layers.get(i + 1).map(|next| &next.mixer_norm));
            match &layer.ffn {
                Ffn::Dense(mlp) => mlp_block(ops, c, mlp, s, ffn_in, next_norm)?,
                Ffn::Moe(moe) => moe_block(ops, c, moe, s, ffn_in, next_norm)?,
            }
            let every = ops.ctx().tuning.submit_layers;
            if every > 0 && (i + 1) % every == 0 && i + 1 < w.layers.len() {
                ops.flush(); // the GPU starts while the host records the next layers
            }
        }
        Ok(())
    }

    /// Whether this step's blocks norm their inputs themselves (`Tuning::fused_norms`): a
    /// decoded token, whose vector fits the kernels' workgroup memory.
    fn fuses_norms(&self, ops: &Ops<'_>, s: &Scratch) -> bool {
        let ctx = ops.ctx();
        ctx.tuning.fused_norms && s.batch == 1 && k::input_norm_fits(ctx, self.config.hidden, ctx.tuning.matvec_wg)
    }

    fn check_input(&self, st: &GpuState, tokens: &[u32]) -> Result<(), ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let c = &self.config;
        let same_shape = st.layers.len() == c.layers.len()
            && st.layers.iter().zip(&c.layers).all(|(s, k)| {
                matches!(
                    (s, k),
                    (LayerState::Conv(_), LayerKind::Conv) | (LayerState::Attn(_), LayerKind::Attention { .. })
                )
            });
        if !same_shape || st.scratch.x.cols != c.hidden {
            return Err(ModelError::ForeignState);
        }
        if st.pos + tokens.len() > st.capacity {
            return Err(ModelError::ContextOverflow { needed: st.pos + tokens.len(), limit: st.capacity });
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= self.config.vocab_size) {
            return Err(ModelError::TokenOutOfRange { id, vocab: self.config.vocab_size });
        }
        Ok(())
    }

    /// Feeds `tokens` after what `st` has seen and returns logits, (rows, vocab) row-major:
    /// one row for `Last`, one per token for `All`, none for `None` (the same contract as
    /// [`crate::reference::ReferenceModel::forward`]).
    pub async fn forward(&self, st: &mut GpuState, tokens: &[u32], want: Logits) -> Result<Vec<f32>, ModelError> {
        self.check_input(st, tokens)?;
        let mut out = Vec::new();
        let n_chunks = tokens.len().div_ceil(st.scratch.batch);
        for (i, chunk) in tokens.chunks(st.scratch.batch).enumerate() {
            let finish = match want {
                Logits::All => Finish::AllLogits,
                Logits::Last if i + 1 == n_chunks => Finish::LastLogits,
                _ => Finish::Nothing,
            };
            out.extend(self.step(st, chunk, finish).await?.logits);
        }
        Ok(out)
    }

    /// Feeds `tokens` and picks the next token on the GPU with `sampler`'s settings (its seeded
    /// generator supplies the random number): only the token id is read back.
    pub async fn forward_sample(
        &self,
        st: &mut GpuState,
        tokens: &[u32],
        sampler: &mut Sampler,
    ) -> Result<u32, ModelError> {
        self.check_input(st, tokens)?;
        let (head, last) = tokens.split_at(tokens.len() - 1 - (tokens.len() - 1) % st.scratch.batch);
        for chunk in head.chunks(st.scratch.batch) {
            self.step(st, chunk, Finish::Nothing).await?;
        }
        let penalized = sampler.penalized_tokens();
        let u = sampler.draw().unwrap_or(0.0);
        let out = self.step(st, last, Finish::Sample(&sampler.params, u, &penalized)).await?;
        let token = out.token.expect("a sampling step returns a token");
        sampler.accept(token);
        Ok(token)
    }

    /// One step of at most `batch` tokens: every layer, then what `finish` asks for, in one
    /// command encoder and one submission.
    async fn step(&self, st: &mut GpuState, chunk: &[u32], finish: Finish<'_>) -> Result<StepOut, ModelError> {
        let (c, ctx) = (&self.config, &*self.ctx);
        let t = chunk.len();
        let s = st.scratch.rows(t)?;
        ctx.queue.write_buffer(&s.tokens.buffer, 0, bytemuck::cast_slice(chunk));
        let mut ops = Ops::new(ctx);
        self.record_layers(&mut ops, st, &s)?;
        let mut out = StepOut { logits: Vec::new(), token: None };
        match finish {
            Finish::Nothing => {
                ops.submit();
            }
            Finish::AllLogits => {
                let logits = GpuTensor::zeros(ctx, "logits.all", t, c.vocab_size)?;
                k::rms_norm(&mut ops, &s.x, &self.weights.output_norm, c.norm_eps, &s.xb)?;
                linear(&mut ops, &self.weights.token_embd, &s.xb, &logits)?;
                ops.submit();
                out.logits = logits.read_f32(ctx).await?;
            }
            Finish::LastLogits => {
                self.record_head(&mut ops, st, t)?;
                ops.submit();
                out.logits = st.scratch.logits.read_f32(ctx).await?;
            }
            Finish::Sample(params, u, penalized) => {
                self.record_head(&mut ops, st, t)?;
                let sc = &st.scratch;
                let n = penalized.len().min(sc.penalty_tokens.len());
                if params.repetition_penalty != 1.0 && n > 0 {
                    // The most recent tokens when the window is larger than the buffer.
                    ctx.queue.write_buffer(
                        &sc.penalty_tokens.buffer,
                        0,
                        bytemuck::cast_slice(&penalized[penalized.len() - n..]),
                    );
                    k::repetition_penalty(&mut ops, &sc.logits, 0, &sc.penalty_tokens, n, params.repetition_penalty)?;
                }
                k::sample(&mut ops, &st.scratch.logits, 0, params, u, &st.scratch.sampled, 0)?;
                ops.submit();
                out.token = Some(st.scratch.sampled.read_u32(ctx).await?[0]);
            }
        }
        st.pos += t;
        Ok(out)
    }

    /// Final norm and tied LM head over the last row of the step into `scratch.logits`.
    fn record_head(&self, ops: &mut Ops<'_>, st: &GpuState, t: usize) -> Result<(), GpuError> {
        let (c, s) = (&self.config, &st.scratch);
        // A decoded token's row is the first: no copy (which would also end the compute pass).
        let last = match t {
            1 => s.x.view(1, c.hidden)?,
            _ => {
                let row_bytes = 4 * c.hidden as u64;
                ops.copy(&s.x.buffer, (t as u64 - 1) * row_bytes, &s.last.buffer, 0, row_bytes);
                s.last.clone()
            }
        };
        k::rms_norm(ops, &last, &self.weights.output_norm, c.norm_eps, &s.last_normed)?;
        k::matvec(ops, &self.weights.token_embd, &s.last_normed, &s.logits)
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_blocking(&self, st: &mut GpuState, tokens: &[u32], want: Logits) -> Result<Vec<f32>, ModelError> {
        pollster::block_on(self.forward(st, tokens, want))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_sample_blocking(
        &self,
        st: &mut GpuState,
        tokens: &[u32],
        sampler: &mut Sampler,
    ) -> Result<u32, ModelError> {
        pollster::block_on(self.forward_sample(st, tokens, sampler))
    }
}

/// What a step ends with after the layers.
enum Finish<'a> {
    Nothing,
    AllLogits,
    LastLogits,
    /// Sample on the GPU with these settings, this uniform random number, and the repetition
    /// penalty on these distinct tokens.
    Sample(&'a SamplingParams, f32, &'a [u32]),
}

struct StepOut {
    logits: Vec<f32>,
    token: Option<u32>,
}
