//! The browser API (wasm32 only): what the npm package and the browser tests call, through
//! wasm-bindgen. Built by `tests/browser/build-wasm.sh` into an ES module (`--target web`).
//!
//! - [`gpu_info`]: the WebGPU adapter, its limits and the optional features in use.
//! - [`self_test`]: the GPU kernels against `crate::reference::ops`, in this browser.
//! - [`Model`]: a GGUF model loaded from a URL (by byte ranges) or a `Blob`/`File` (by
//!   slices): tokenize, generate, logits.
//! - [`ChatSession`]: a conversation on a `Model` (`model.createSession()`): the engine's
//!   chat template, streamed events, tool calls and state reuse between turns.
//! - [`Sha256`]: chunked hashing for the package's download cache.
//! - [`wasm_memory_bytes`] (`wasmMemoryBytes()`), [`destroy_device`] (`destroyDevice()`, for
//!   tests), [`version`].
//!
//! Conventions for every entry point: GPU work is `async` (WebGPU only ever completes on the
//! event loop); models loaded with the same options share one GPU device ([`device`]); every
//! failure is thrown or rejected as an `Error` with `name` `"LfmError"`, a descriptive
//! `message` and a string `code` ([`error`]), never a panic. Panics that still happen are
//! bugs; the hook installed at start-up prints them to the console.
//!
//! The codes:
//!
//! | code               | when |
//! |--------------------|------|
//! | `http`             | the server answered an HTTP error (`status` holds it: 404, 403, ...) |
//! | `network`          | `fetch` failed (offline, CORS, refused), a body was cut off, reading a Blob failed |
//! | `bad_model`        | not a GGUF file, truncated, corrupt header or metadata, bad shapes |
//! | `unsupported`      | architecture, tensor type or tokenizer not supported; a tensor over the device's binding limit |
//! | `gpu`              | no WebGPU adapter or device, a WebGPU error |
//! | `out_of_memory`    | the GPU ran out of memory while the weights were uploaded |
//! | `device_lost`      | the GPU device was lost (now or before the call): load the model again |
//! | `context_overflow` | prompt plus `maxTokens`, or a conversation, longer than the context / capacity |
//! | `invalid_request`  | bad arguments: request JSON, options, empty prompt, token id outside the vocabulary |
//! | `busy`             | a chat is already running on the session |
//! | `aborted`          | `onProgress` or `onEvent` threw, the load's `signal` fired |
//! | `internal`         | a bug here |

// Input-derived paths (file bytes, requests, model output): no `unwrap`/`expect` outside
// tests; a true invariant says why with `#[allow]` and a comment.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod blob;
mod chat;
mod comparison;
mod device;
mod error;
mod fetch;
mod info;
mod load;
mod model;
mod options;
mod self_test;
mod sha;

use std::sync::Arc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::gpu::{ContextOptions, GpuContext};

pub use chat::ChatSession;
pub use device::destroy_device;
pub use info::gpu_info;
pub use model::Model;
pub use self_test::self_test;
pub use sha::Sha256;

use error::{Code, LfmError};

/// Runs when the module is instantiated: panics print their message and stack to the console
/// (instead of an opaque "unreachable executed").
#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The crate version of this build.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Bytes of the module's linear memory now (it only ever grows): what the weights' transit
/// through wasm, the tokenizer and the chat state cost on the JS heap side.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    js_sys::Reflect::get(&memory.buffer(), &"byteLength".into()).ok().and_then(|n| n.as_f64()).unwrap_or(0.0)
}

/// The page's default GPU context (what `gpu_info` and `self_test` use).
async fn default_context() -> Result<Arc<GpuContext>, LfmError> {
    device::context(ContextOptions::default()).await
}

/// A `serde_json` value as a plain JS object.
pub(crate) fn to_js(value: &serde_json::Value) -> Result<JsValue, LfmError> {
    js_sys::JSON::parse(&value.to_string()).map_err(|_| LfmError::new(Code::Internal, "result is not valid JSON"))
}

/// Milliseconds since the epoch (for timings; `std::time::Instant` panics on wasm32).
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_log(message: &str);
}
