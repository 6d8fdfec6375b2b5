//! `Model`: a GGUF model loaded from a URL onto the page's GPU, with its tokenizer.
//!
//! ```js
//! const model = await Model.load('/models/tiny-moe-q8_0.gguf', (p) => console.log(p));
//! const ids = model.tokenize(renderedChat);          // Uint32Array; no BOS added
//! const out = await model.generate(ids, 16);         // Uint32Array of 16 greedy tokens
//! console.log(model.detokenize(out));
//! model.free();                                      // releases the GPU buffers
//! ```
//!
//! Loading never holds the whole file: the header is read first (a prefix grown until
//! [`Gguf::parse_prefix`] completes), everything that can be checked is checked (architecture,
//! shapes, tensor types, tokenizer, file length), then the weights are read in file order in
//! requests of at most [`MAX_REQUEST`] bytes (neighbouring tensors share a request; a larger
//! tensor gets its own), each uploaded to the GPU and dropped before the next.

use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Float32Array, Function, Promise, Uint32Array};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::chat::template::ChatTemplate;
use crate::engine::Backend;
use crate::gguf::{Gguf, GgufError, Parsed};
use crate::gpu::{GpuContext, GpuModel, PlannedTensor};
use crate::model::{HostTensor, ModelError, SharedBytes};
use crate::reference::Logits;
use crate::sampling::{Sampler, SamplingParams};
use crate::tokenizer::Tokenizer;

use super::fetch::{js_message, Remote};
use super::{context, to_js};

/// The first read: most headers fit (LFM2's is ~2.4 MB, nearly all tokenizer); it doubles
/// until the header is complete.
const FIRST_READ: u64 = 1 << 20;
/// A header needing more than this is corrupt (and would otherwise be read whole).
const MAX_HEADER: u64 = 256 << 20;
/// Most bytes one weight request asks for, unless one tensor alone is larger.
const MAX_REQUEST: u64 = 16 << 20;
/// Tensors at most this far apart share a request (the bytes between are read and dropped).
const MAX_GAP: u64 = 64 << 10;

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
    pub(super) url: String,
    file_bytes: u64,
    /// Whether the server ignored byte ranges and the body was streamed instead.
    streamed: bool,
    load_ms: f64,
}

#[wasm_bindgen]
impl Model {
    /// Loads the GGUF at `url` (relative to the page) onto the page's GPU.
    ///
    /// `onProgress` is called with `{ phase, loadedBytes, totalBytes }`: phase `"header"`
    /// while the header is read, `"weights"` after each request of weights is uploaded, and
    /// once `"done"` with `loadedBytes == totalBytes`. `loadedBytes` is how far into the file
    /// the load has got; it never decreases. `totalBytes` is the file size (null until known,
    /// when the server does not say). An exception thrown by `onProgress` aborts the load.
    ///
    /// Rejects with an `Error` naming the URL and the cause: an HTTP status, a network
    /// failure, not a GGUF file, an unsupported architecture or tensor type, a truncated file,
    /// or a GPU error (out of memory) while uploading.
    pub async fn load(
        url: String,
        #[wasm_bindgen(js_name = "onProgress")] on_progress: Option<Function>,
    ) -> Result<Model, JsValue> {
        let t0 = super::now_ms();
        let mut progress = Progress { callback: on_progress, loaded: 0, total: None };
        let fail = |e: String| -> JsValue { JsError::new(&format!("Model.load({url}): {e}")).into() };
        let ctx = context().await.map_err(JsValue::from)?;
        let mut remote = Remote::open(&url, FIRST_READ).await.map_err(fail)?;
        progress.total = remote.size;
        progress.report("header", remote.end()).map_err(fail)?;

        let gguf = read_header(&mut remote, &mut progress).await.map_err(fail)?;
        let plan = GpuModel::upload_plan(&gguf).map_err(|e| fail(e.to_string()))?;
        let tokenizer = Tokenizer::from_gguf(&gguf).map_err(|e| fail(format!("tokenizer: {e}")))?;
        let template = ChatTemplate::from_gguf(&gguf).map_err(|e| fail(format!("chat template: {e}")))?;
        if let Some(size) = remote.size {
            gguf.check_file_len(size).map_err(|e| fail(e.to_string()))?;
        }
        let total = remote.size.unwrap_or_else(|| gguf.data_end());
        progress.total = Some(total);

        let mut uploaded = HashMap::new();
        for group in request_groups(&gguf, plan) {
            let bytes = remote.take(group.range.clone()).await.map_err(fail)?;
            let bytes = SharedBytes::new(Arc::new(bytes));
            upload_group(&ctx, &gguf, &group, &bytes, &mut uploaded).await.map_err(fail)?;
            drop(bytes);
            progress.report("weights", group.range.end).map_err(fail)?;
        }
        let gpu = GpuModel::from_uploaded(ctx, &gguf, uploaded).map_err(|e| fail(e.to_string()))?;
        progress.report("done", total).map_err(fail)?;
        let streamed = remote.is_streamed();
        #[allow(clippy::arc_with_non_send_sync)] // wgpu's WebGPU types are !Send on wasm32
        let loaded = Loaded {
            backend: Arc::new(Backend::Gpu(gpu)),
            tokenizer: Arc::new(tokenizer),
            template: Arc::new(template),
            url,
            file_bytes: total,
            streamed,
            load_ms: super::now_ms() - t0,
        };
        Ok(Model { inner: Rc::new(loaded) })
    }

    /// Token ids of `text`, exactly as written: special-token text (`<|im_start|>`,
    /// `<|startoftext|>`) becomes the special token, and no BOS is added (a rendered chat
    /// template writes its own `<|startoftext|>`).
    pub fn tokenize(&self, text: String) -> Result<Vec<u32>, JsError> {
        self.inner.tokenizer.encode(&text, false).map_err(|e| JsError::new(&format!("tokenize: {e}")))
    }

    /// The text of `ids`. Special tokens are written out (`<|im_end|>`) unless
    /// `skipSpecial` is true. Bytes that do not form whole UTF-8 characters become U+FFFD.
    pub fn detokenize(
        &self,
        ids: Vec<u32>,
        #[wasm_bindgen(js_name = "skipSpecial")] skip_special: Option<bool>,
    ) -> Result<String, JsError> {
        let skip = skip_special.unwrap_or(false);
        self.inner.tokenizer.decode(&ids, skip).map_err(|e| JsError::new(&format!("detokenize: {e}")))
    }

    /// Greedy continuation of `tokens`: exactly `maxTokens` new ids (it does not stop at
    /// EOS), sampled on the GPU so only one id per step is read back.
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint32Array>")]
    pub fn generate(&self, tokens: Vec<u32>, #[wasm_bindgen(js_name = "maxTokens")] max_tokens: u32) -> Promise {
        let model = self.inner.clone();
        future_to_promise(async move {
            let out = model.generate(&tokens, max_tokens as usize).await.map_err(|e| error("generate", e))?;
            Ok(Uint32Array::from(&out[..]).into())
        })
    }

    /// The logits (one per vocabulary entry) after `tokens`, evaluated from a fresh state.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array>")]
    pub fn logits(&self, tokens: Vec<u32>) -> Promise {
        let model = self.inner.clone();
        future_to_promise(async move {
            let gpu = model.gpu();
            let mut state = gpu.new_state(tokens.len().max(1)).map_err(|e| error("logits", e))?;
            let logits = gpu.forward(&mut state, &tokens, Logits::Last).await.map_err(|e| error("logits", e))?;
            Ok(Float32Array::from(&logits[..]).into())
        })
    }

    /// What was loaded: `{ url, fileBytes, weightBytes, streamed, loadMs, adapter,
    /// bosId, eosId, vocabSize, config: { arch, hidden, layers, ... } }`.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &*self.inner;
        to_js(&json!({
            "url": m.url,
            "fileBytes": m.file_bytes,
            "weightBytes": m.gpu().weight_bytes,
            "streamed": m.streamed,
            "loadMs": m.load_ms,
            "adapter": super::info::adapter_label(&m.gpu().ctx.adapter_info),
            "bosId": m.tokenizer.bos_id(),
            "eosId": m.tokenizer.eos_id(),
            "vocabSize": m.gpu().config.vocab_size,
            "config": m.gpu().config,
        }))
    }
}

impl Loaded {
    pub(super) fn gpu(&self) -> &GpuModel {
        match &*self.backend {
            Backend::Gpu(m) => m,
            Backend::Reference(_) => unreachable!("Model.load builds the GPU backend"),
        }
    }

    async fn generate(&self, tokens: &[u32], max_tokens: usize) -> Result<Vec<u32>, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let mut out = Vec::with_capacity(max_tokens);
        if max_tokens == 0 {
            return Ok(out);
        }
        // The last new token is returned, never fed.
        let mut state = self.gpu().new_state(tokens.len() + max_tokens - 1)?;
        let mut sampler = Sampler::new(SamplingParams::default());
        let mut next = self.gpu().forward_sample(&mut state, tokens, &mut sampler).await?;
        out.push(next);
        while out.len() < max_tokens {
            next = self.gpu().forward_sample(&mut state, &[next], &mut sampler).await?;
            out.push(next);
        }
        Ok(out)
    }
}

fn error(what: &str, e: ModelError) -> JsValue {
    JsError::new(&format!("{what}: {e}")).into()
}

/// Reads the header: a prefix of the file, grown until it parses.
async fn read_header(remote: &mut Remote, progress: &mut Progress) -> Result<Gguf, String> {
    loop {
        let have = remote.end();
        let need = match Gguf::parse_prefix(remote.window()).map_err(|e| e.to_string())? {
            Parsed::Complete(gguf) => return Ok(gguf),
            Parsed::NeedBytes(need) => need,
        };
        let truncated = |have| GgufError::Truncated { have, need }.to_string();
        if remote.size.is_some_and(|size| size < need) {
            return Err(truncated(remote.size.unwrap()));
        }
        if need > MAX_HEADER {
            return Err(format!(
                "the GGUF header claims to need {need} bytes, over the {MAX_HEADER}-byte limit (corrupt file?)"
            ));
        }
        remote.fill(need.max(2 * have).min(MAX_HEADER)).await?;
        if remote.end() < need {
            return Err(truncated(remote.end()));
        }
        progress.report("header", remote.end())?;
    }
}

/// Tensors read with one request: a byte range of the file and the tensors in it.
struct Group {
    range: Range<u64>,
    tensors: Vec<PlannedTensor>,
}

/// The plan's tensors in file order, neighbours gathered into requests of at most
/// [`MAX_REQUEST`] bytes.
fn request_groups(gguf: &Gguf, mut plan: Vec<PlannedTensor>) -> Vec<Group> {
    plan.sort_by_key(|t| t.info.offset);
    let mut groups: Vec<Group> = Vec::new();
    for t in plan {
        let r = gguf.tensor_range(&t.info);
        match groups.last_mut() {
            Some(g) if r.start <= g.range.end + MAX_GAP && r.end - g.range.start <= MAX_REQUEST => {
                g.range.end = g.range.end.max(r.end);
                g.tensors.push(t);
            }
            _ => groups.push(Group { range: r, tensors: vec![t] }),
        }
    }
    groups
}

/// Uploads the tensors of `group` (whose bytes are `bytes`) inside WebGPU error scopes, so an
/// out-of-memory or validation error rejects the load instead of going to the console. The
/// scopes are pushed and popped with no await between (scopes are a stack that concurrent
/// calls on the page would otherwise interleave).
async fn upload_group(
    ctx: &GpuContext,
    gguf: &Gguf,
    group: &Group,
    bytes: &SharedBytes,
    uploaded: &mut HashMap<String, crate::gpu::Uploaded>,
) -> Result<(), String> {
    let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = group.tensors.iter().try_for_each(|t| {
        let r = gguf.tensor_range(&t.info);
        let (start, end) = (r.start - group.range.start, r.end - group.range.start);
        let bytes = bytes.slice(start, end).expect("the group's range covers its tensors");
        let host = HostTensor { name: t.info.name.clone(), ty: t.info.ty, dims: t.info.dims.clone(), bytes };
        let u = GpuModel::upload_tensor(ctx, t.role, &host)?;
        uploaded.insert(t.info.name.clone(), u);
        Ok::<_, ModelError>(())
    });
    let (validation, oom) = (validation.pop(), oom.pop());
    if let Some(e) = validation.await.or(oom.await) {
        return Err(format!("WebGPU error while uploading weights: {e}"));
    }
    result.map_err(|e| e.to_string())
}

/// Calls `onProgress` with monotone `loadedBytes`.
struct Progress {
    callback: Option<Function>,
    loaded: u64,
    total: Option<u64>,
}

impl Progress {
    fn report(&mut self, phase: &str, loaded: u64) -> Result<(), String> {
        let loaded = self.total.map_or(loaded, |t| loaded.min(t));
        self.loaded = self.loaded.max(loaded);
        let Some(f) = &self.callback else { return Ok(()) };
        let event = json!({ "phase": phase, "loadedBytes": self.loaded, "totalBytes": self.total });
        let event = js_sys::JSON::parse(&event.to_string()).expect("valid JSON");
        f.call1(&JsValue::NULL, &event).map(|_| ()).map_err(|e| format!("onProgress threw: {}", js_message(e)))
    }
}
