//! `Model.load`: a GGUF model from a URL or a `Blob`/`File` onto the page's GPU.
//!
//! Loading never holds the whole file: the header is read first (a prefix grown until
//! [`Gguf::parse_prefix`] completes), everything that can be checked is checked (architecture,
//! shapes, tensor types, tokenizer, file length), then the weights are read in file order in
//! requests of at most [`MAX_REQUEST`] bytes, each uploaded to the GPU and dropped before the
//! next: neighbouring tensors share a request, and a larger tensor is read in chunks of whole
//! rows into GPU buffers allocated first ([`GpuModel::begin_upload`]). So the wasm heap holds
//! a few requests' bytes at most, however large the file or its largest tensor.

use std::collections::HashMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::Function;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::chat::template::ChatTemplate;
use crate::engine::Backend;
use crate::gguf::{Gguf, GgufError, Parsed};
use crate::gpu::{GpuContext, GpuModel, PlannedTensor, Uploaded};
use crate::model::{HostTensor, ModelError, SharedBytes};
use crate::tokenizer::Tokenizer;

use super::blob::{self, Blob};
use super::device;
use super::error::{tokenizer_load_error, Code, LfmError, Result};
use super::fetch::{js_message, Remote};
use super::model::{Loaded, Model};
use super::options::{JsLoadOptions, LoadOptions};

/// The first read: most headers fit (LFM2's is ~2.4 MB, nearly all tokenizer); it doubles
/// until the header is complete.
const FIRST_READ: u64 = 1 << 20;
/// A header needing more than this is corrupt (and would otherwise be read whole).
const MAX_HEADER: u64 = 256 << 20;
/// Most bytes one weight request asks for: a tensor larger than this is read in chunks of
/// whole rows of at most this size (one row, if a row is larger).
const MAX_REQUEST: u64 = 8 << 20;
/// Tensors at most this far apart share a request (the bytes between are read and dropped).
const MAX_GAP: u64 = 64 << 10;

#[wasm_bindgen]
impl Model {
    /// Loads the GGUF `source` onto the page's GPU: a URL (relative to the page), read by
    /// HTTP byte ranges, or a `Blob`/`File`, read by slices.
    ///
    /// `onProgress` is called with `{ phase, loadedBytes, totalBytes }`: phase `"header"`
    /// while the header is read, `"weights"` after each request of weights is uploaded, and
    /// once `"done"` with `loadedBytes == totalBytes`. `loadedBytes` is how far into the file
    /// the load has got; it never decreases. `totalBytes` is the file size (null until known,
    /// when the server does not say). An exception thrown by `onProgress` aborts the load.
    ///
    /// `options` (all optional): `maxBindingBytes`, the most bytes one GPU storage binding may
    /// hold (mobile GPUs allow 128 MiB): the model is loaded on a device requested with that
    /// limit and its weights split to fit; `signal`, an `AbortSignal` that stops the load
    /// between two requests.
    ///
    /// Rejects with an `LfmError` whose message names the source and the cause, and whose
    /// `code` is `http` (with `status`), `network`, `bad_model` (not GGUF, truncated,
    /// corrupt), `unsupported` (architecture, tensor type, a tensor over the binding limit),
    /// `gpu`, `out_of_memory` (uploading the weights), `device_lost`, `aborted` (`onProgress`
    /// threw, `signal` fired) or `invalid_request` (a bad source or option).
    pub async fn load(
        #[wasm_bindgen(unchecked_param_type = "string | Blob")] source: JsValue,
        #[wasm_bindgen(js_name = "onProgress")] on_progress: Option<Function>,
        options: Option<JsLoadOptions>,
    ) -> Result<Model, JsValue> {
        let t0 = super::now_ms();
        let (label, blob) = match source.as_string() {
            Some(url) => (url, None),
            None => match source.dyn_into::<Blob>() {
                Ok(b) => (blob::label(&b), Some(b)),
                Err(_) => return Err(LfmError::invalid("Model.load: the source must be a URL string or a Blob").into()),
            },
        };
        let loaded =
            load(&label, blob, on_progress, options).await.map_err(|e| e.context(&format!("Model.load({label})")))?;
        let loaded = Loaded { load_ms: super::now_ms() - t0, ..loaded };
        Ok(Model { inner: Rc::new(loaded) })
    }
}

#[allow(clippy::arc_with_non_send_sync)] // wgpu's WebGPU types are !Send on wasm32
async fn load(
    label: &str,
    blob: Option<Blob>,
    on_progress: Option<Function>,
    options: Option<JsLoadOptions>,
) -> Result<Loaded> {
    let options = LoadOptions::parse(options)?;
    let mut progress = Progress { callback: on_progress, options: &options, loaded: 0, total: None };
    let ctx = device::context(options.context).await?;
    let (source, mut remote) = match blob {
        Some(b) => ("blob", Remote::open_blob(b, label, FIRST_READ).await?),
        None => ("url", Remote::open(label, FIRST_READ).await?),
    };
    progress.total = remote.size;
    progress.report("header", remote.end())?;

    let gguf = read_header(&mut remote, &mut progress).await?;
    let plan = GpuModel::upload_plan(&gguf)?;
    let tokenizer = Tokenizer::from_gguf(&gguf).map_err(tokenizer_load_error)?;
    let template =
        ChatTemplate::from_gguf(&gguf).map_err(|e| LfmError::new(Code::BadModel, format!("chat template: {e}")))?;
    if let Some(size) = remote.size {
        gguf.check_file_len(size)?;
    }
    let total = remote.size.unwrap_or_else(|| gguf.data_end());
    progress.total = Some(total);

    let mut uploaded = HashMap::new();
    for request in requests(&gguf, plan) {
        match request {
            Request::Group(group) => {
                let bytes = remote.take(group.range.clone()).await?;
                let bytes = SharedBytes::new(Arc::new(bytes));
                scoped(&ctx, || upload_group(&ctx, &gguf, &group, &bytes, &mut uploaded)).await?;
                drop(bytes);
                // WebGPU calls on a lost device do nothing and report nothing: stop here instead.
                device::check_alive(&ctx)?;
                progress.report("weights", group.range.end)?;
            }
            Request::Large(t) => {
                let u = upload_large(&ctx, &gguf, &t, &mut remote, &mut progress).await?;
                uploaded.insert(t.info.name, u);
            }
        }
    }
    let mut gpu = GpuModel::from_uploaded(ctx, &gguf, uploaded)?;
    gpu.kv_precision = options.kv_precision;
    // A state (KV cache, scratch, logits) is allocated by each generate or session: one that
    // cannot be (a buffer over the binding limit) fails the load now, not every later call.
    drop(gpu.new_state(gpu.ctx.tuning.prefill_batch.min(gpu.config.context_length))?);
    progress.report("done", total)?;
    Ok(Loaded {
        backend: Arc::new(Backend::Gpu(gpu)),
        tokenizer: Arc::new(tokenizer),
        template: Arc::new(template),
        url: label.to_string(),
        source,
        file_bytes: total,
        streamed: remote.is_streamed(),
        load_ms: 0.0, // set by the caller
    })
}

/// Reads the header: a prefix of the file, grown until it parses.
async fn read_header(remote: &mut Remote, progress: &mut Progress<'_>) -> Result<Gguf> {
    loop {
        let have = remote.end();
        let need = match Gguf::parse_prefix(remote.window())? {
            Parsed::Complete(gguf) => return Ok(gguf),
            Parsed::NeedBytes(need) => need,
        };
        let truncated = |have| LfmError::from(GgufError::Truncated { have, need });
        if let Some(size) = remote.size.filter(|&size| size < need) {
            return Err(truncated(size));
        }
        if need > MAX_HEADER {
            return Err(LfmError::new(
                Code::BadModel,
                format!(
                    "the GGUF header claims to need {need} bytes, over the {MAX_HEADER}-byte limit (corrupt file?)"
                ),
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

/// How a tensor's bytes are read.
enum Request {
    /// With its neighbours, in one request.
    Group(Group),
    /// Alone, in chunks: a tensor larger than [`MAX_REQUEST`].
    Large(PlannedTensor),
}

/// The plan's tensors in file order: tensors larger than [`MAX_REQUEST`] alone, neighbours
/// gathered into requests of at most [`MAX_REQUEST`] bytes.
fn requests(gguf: &Gguf, mut plan: Vec<PlannedTensor>) -> Vec<Request> {
    plan.sort_by_key(|t| t.info.offset);
    let mut requests: Vec<Request> = Vec::new();
    for t in plan {
        let r = gguf.tensor_range(&t.info);
        if r.end - r.start > MAX_REQUEST {
            requests.push(Request::Large(t));
            continue;
        }
        match requests.last_mut() {
            Some(Request::Group(g)) if r.start <= g.range.end + MAX_GAP && r.end - g.range.start <= MAX_REQUEST => {
                g.range.end = g.range.end.max(r.end);
                g.tensors.push(t);
            }
            _ => requests.push(Request::Group(Group { range: r, tensors: vec![t] })),
        }
    }
    requests
}

/// Uploads the tensors of `group`, whose bytes are `bytes`.
fn upload_group(
    ctx: &GpuContext,
    gguf: &Gguf,
    group: &Group,
    bytes: &SharedBytes,
    uploaded: &mut HashMap<String, Uploaded>,
) -> Result<(), ModelError> {
    group.tensors.iter().try_for_each(|t| {
        let r = gguf.tensor_range(&t.info);
        let (start, end) = (r.start - group.range.start, r.end - group.range.start);
        let bytes = bytes.slice(start, end).ok_or_else(|| {
            ModelError::BadConfig(format!("tensor `{}` lies outside its request's bytes", t.info.name))
        })?;
        let host = HostTensor { name: t.info.name.clone(), ty: t.info.ty, dims: t.info.dims.clone(), bytes };
        let u = GpuModel::upload_tensor(ctx, t.role, &host)?;
        uploaded.insert(t.info.name.clone(), u);
        Ok(())
    })
}

/// Uploads a tensor larger than a request: its GPU buffers first, then chunks of whole rows,
/// each read, written and dropped before the next is asked for. Progress is reported after
/// each chunk.
async fn upload_large(
    ctx: &GpuContext,
    gguf: &Gguf,
    t: &PlannedTensor,
    remote: &mut Remote,
    progress: &mut Progress<'_>,
) -> Result<Uploaded> {
    let start = gguf.tensor_range(&t.info).start;
    let mut upload = scoped(ctx, || GpuModel::begin_upload(ctx, t.role, &t.info)).await?;
    let (rows, row_bytes) = (upload.rows(), upload.row_bytes() as u64);
    let chunk_rows = (MAX_REQUEST / row_bytes).max(1) as usize;
    for first in (0..rows).step_by(chunk_rows) {
        let n = chunk_rows.min(rows - first);
        let at = start + first as u64 * row_bytes;
        let end = at + n as u64 * row_bytes;
        let bytes = remote.take(at..end).await?;
        scoped(ctx, || upload.write_rows(ctx, first, &bytes)).await?;
        drop(bytes);
        device::check_alive(ctx)?;
        progress.report("weights", end)?;
    }
    scoped(ctx, || upload.finish(ctx)).await
}

/// Runs `gpu_work` (creating buffers, writing them) inside WebGPU error scopes, so an
/// out-of-memory or validation error rejects the load instead of going to the console. The
/// scopes are pushed and popped with no await between (scopes are a stack that concurrent
/// calls on the page would otherwise interleave); their errors are awaited after.
async fn scoped<T>(ctx: &GpuContext, gpu_work: impl FnOnce() -> Result<T, ModelError>) -> Result<T> {
    let oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let result = gpu_work();
    let (validation, oom) = (validation.pop(), oom.pop());
    if let Some(e) = oom.await {
        return Err(LfmError::new(
            Code::OutOfMemory,
            format!("the GPU ran out of memory while uploading weights: {e}"),
        ));
    }
    if let Some(e) = validation.await {
        return Err(LfmError::new(Code::Gpu, format!("WebGPU error while uploading weights: {e}")));
    }
    Ok(result?)
}

/// Calls `onProgress` with monotone `loadedBytes`, and stops the load once the signal fired.
struct Progress<'a> {
    callback: Option<Function>,
    options: &'a LoadOptions,
    loaded: u64,
    total: Option<u64>,
}

impl Progress<'_> {
    fn report(&mut self, phase: &str, loaded: u64) -> Result<()> {
        self.options.check_signal()?;
        let loaded = self.total.map_or(loaded, |t| loaded.min(t));
        self.loaded = self.loaded.max(loaded);
        let Some(f) = &self.callback else { return Ok(()) };
        let event = json!({ "phase": phase, "loadedBytes": self.loaded, "totalBytes": self.total });
        let event = super::to_js(&event)?;
        f.call1(&JsValue::NULL, &event)
            .map(|_| ())
            .map_err(|e| LfmError::new(Code::Aborted, format!("onProgress threw: {}", js_message(e))))
    }
}
