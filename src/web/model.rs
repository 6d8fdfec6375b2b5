//! `Model`: a GGUF model on the page's GPU, with its tokenizer: tokenize, generate, logits.
//!
//! ```js
//! const model = await Model.load('/models/tiny-moe-q8_0.gguf', (p) => console.log(p));
//! const ids = model.tokenize(renderedChat);          // Uint32Array; no BOS added
//! const out = await model.generate(ids, 16);         // Uint32Array of 16 greedy tokens
//! const sampled = await model.generate(ids, 64, { temperature: 0.7, seed: 1, stop: [7] });
//! console.log(model.detokenize(out));
//! model.free();                                      // releases the GPU buffers
//! ```
//!
//! Loading (from a URL or a Blob, by ranges) is `Model.load` in `src/web/load.rs`.

use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Float32Array, Promise, Uint32Array};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::chat::template::ChatTemplate;
use crate::engine::Backend;
use crate::gpu::GpuModel;
use crate::reference::Logits;
use crate::sampling::Sampler;
use crate::tokenizer::Tokenizer;

use super::device;
use super::error::{Code, LfmError, Result};
use super::options::{Generation, JsGenerateOptions};
use super::to_js;

/// A model on the GPU with its tokenizer and chat template. `generate` and `logits` run from
/// a fresh state each call; conversations that keep their state are [`ChatSession`]s
/// (`model.createSession()`, `src/web/chat.rs`).
///
/// [`ChatSession`]: super::chat::ChatSession
#[wasm_bindgen]
pub struct Model {
    pub(super) inner: Rc<Loaded>,
}

pub(super) struct Loaded {
    /// Always [`Backend::Gpu`]: shared with every chat session of the model.
    pub(super) backend: Arc<Backend>,
    pub(super) tokenizer: Arc<Tokenizer>,
    pub(super) template: Arc<ChatTemplate>,
    /// The URL, or a File's name ("blob" for another Blob).
    pub(super) url: String,
    /// "url" or "blob".
    pub(super) source: &'static str,
    pub(super) file_bytes: u64,
    /// Whether the server ignored byte ranges and the body was streamed instead.
    pub(super) streamed: bool,
    pub(super) load_ms: f64,
}

#[wasm_bindgen]
impl Model {
    /// Token ids of `text`, exactly as written: special-token text (`<|im_start|>`,
    /// `<|startoftext|>`) becomes the special token, and no BOS is added (a rendered chat
    /// template writes its own `<|startoftext|>`).
    pub fn tokenize(&self, text: String) -> Result<Vec<u32>, JsValue> {
        Ok(self.inner.tokenizer.encode(&text, false).map_err(|e| LfmError::from(e).context("tokenize"))?)
    }

    /// The text of `ids`. Special tokens are written out (`<|im_end|>`) unless
    /// `skipSpecial` is true. Bytes that do not form whole UTF-8 characters become U+FFFD.
    pub fn detokenize(
        &self,
        ids: Vec<u32>,
        #[wasm_bindgen(js_name = "skipSpecial")] skip_special: Option<bool>,
    ) -> Result<String, JsValue> {
        let skip = skip_special.unwrap_or(false);
        Ok(self.inner.tokenizer.decode(&ids, skip).map_err(|e| LfmError::from(e).context("detokenize"))?)
    }

    /// A continuation of `tokens`: `maxTokens` new ids, fewer when one of `options.stop` is
    /// sampled (it is the last id returned). Sampled on the GPU, so only one id per step is
    /// read back. `options`: `{ temperature, top_k, top_p, min_p, repetition_penalty, seed,
    /// stop: [ids] }`, all optional; without them decoding is greedy and does not stop (not
    /// even at EOS). Rejects with `context_overflow` when the prompt plus `maxTokens` exceed
    /// the model's context, `invalid_request` for an empty prompt, an id outside the
    /// vocabulary or a bad option.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint32Array>")]
    pub fn generate(
        &self,
        tokens: Vec<u32>,
        #[wasm_bindgen(js_name = "maxTokens")] max_tokens: u32,
        options: Option<JsGenerateOptions>,
    ) -> Promise {
        let model = self.inner.clone();
        let parsed = Generation::parse(options, model.gpu().config.vocab_size);
        future_to_promise(async move {
            let run = async move { model.generate(&tokens, max_tokens, &parsed?).await };
            let out = run.await.map_err(|e| e.context("generate"))?;
            Ok(Uint32Array::from(&out[..]).into())
        })
    }

    /// The logits (one per vocabulary entry) after `tokens`, evaluated from a fresh state.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array>")]
    pub fn logits(&self, tokens: Vec<u32>) -> Promise {
        let model = self.inner.clone();
        future_to_promise(async move {
            let run = async move {
                let gpu = model.gpu();
                device::check_alive(&gpu.ctx)?;
                let mut state = gpu.new_state(tokens.len().max(1))?;
                let logits = gpu.forward(&mut state, &tokens, Logits::Last).await;
                model.gpu_result(logits).await
            };
            let logits = run.await.map_err(|e| e.context("logits"))?;
            Ok(Float32Array::from(&logits[..]).into())
        })
    }

    /// What was loaded: `{ url, source, fileBytes, weightBytes, streamed, loadMs, adapter,
    /// maxBindingBytes, kvCache, weightTextures, deviceLost, bosId, eosId, vocabSize, config: { arch, hidden, ... } }`.
    /// `url` is a File's name for a File ("blob" for another Blob), `source` is "url" or
    /// "blob", `maxBindingBytes` the storage-binding limit the weights were split for,
    /// `kvCache` "f16" or "f32", `weightTextures` whether the weights were moved into textures,
    /// and `deviceLost` why the GPU device was lost (null while it works).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let m = &*self.inner;
        let gpu = m.gpu();
        Ok(to_js(&json!({
            "url": m.url,
            "source": m.source,
            "fileBytes": m.file_bytes,
            "weightBytes": gpu.weight_bytes,
            "streamed": m.streamed,
            "loadMs": m.load_ms,
            "adapter": super::info::adapter_label(&gpu.ctx.adapter_info),
            "maxBindingBytes": gpu.ctx.max_binding_bytes(),
            "kvCache": format!("{:?}", gpu.kv_precision).to_lowercase(),
            "weightTextures": gpu.ctx.tuning.weight_textures,
            "deviceLost": gpu.ctx.lost(),
            "bosId": m.tokenizer.bos_id(),
            "eosId": m.tokenizer.eos_id(),
            "vocabSize": gpu.config.vocab_size,
            "config": gpu.config,
        }))?)
    }
}

impl Loaded {
    pub(super) fn gpu(&self) -> &GpuModel {
        match &*self.backend {
            Backend::Gpu(m) => m,
            Backend::Reference(_) => unreachable!("Model.load builds the GPU backend"),
        }
    }

    /// `result` of GPU work, its error (if any) turned into `device_lost` when the device is.
    pub(super) async fn gpu_result<T>(&self, result: Result<T, impl Into<LfmError>>) -> Result<T> {
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(device::on_failure(&self.gpu().ctx, e.into()).await),
        }
    }

    async fn generate(&self, tokens: &[u32], max_tokens: u32, g: &Generation) -> Result<Vec<u32>> {
        device::check_alive(&self.gpu().ctx)?;
        if tokens.is_empty() {
            return Err(LfmError::invalid("no tokens to evaluate"));
        }
        if max_tokens == 0 {
            return Ok(Vec::new());
        }
        // The last new token is returned, never fed.
        let needed = tokens.len() as u64 + u64::from(max_tokens) - 1;
        let context = self.gpu().config.context_length;
        if needed > context as u64 {
            return Err(LfmError::new(
                Code::ContextOverflow,
                format!(
                    "context overflow: {} prompt tokens and maxTokens {max_tokens} need {needed} positions, \
                     more than the model's {context}-token context",
                    tokens.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(max_tokens as usize);
        let state = self.gpu().new_state(needed as usize);
        let mut state = self.gpu_result(state).await?;
        let mut sampler = Sampler::new(g.sampling.clone());
        let mut next = self.gpu_result(self.gpu().forward_sample(&mut state, tokens, &mut sampler).await).await?;
        out.push(next);
        while out.len() < max_tokens as usize && !g.stop.contains(&next) {
            next = self.gpu_result(self.gpu().forward_sample(&mut state, &[next], &mut sampler).await).await?;
            out.push(next);
        }
        Ok(out)
    }
}
