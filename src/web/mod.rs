//! The browser API (wasm32 only): what the npm package and the browser tests call, through
//! wasm-bindgen. Built by `tests/browser/build-wasm.sh` into an ES module (`--target web`).
//!
//! - [`gpu_info`]: the WebGPU adapter, its limits and the optional features in use.
//! - [`self_test`]: the GPU kernels against `crate::reference::ops`, in this browser.
//! - [`Model`]: a GGUF model loaded from a URL by byte ranges: tokenize, generate, logits.
//! - [`ChatSession`]: a conversation on a `Model` (`model.createSession()`): the engine's
//!   chat template, streamed events, tool calls and state reuse between turns.
//!
//! Conventions for every entry point: it is `async` (WebGPU only ever completes on the event
//! loop), it shares one [`GpuContext`] per page ([`context`]), and every failure is returned
//! as a `JsError` (a JS `Error` whose message says what went wrong), never a panic. Panics
//! that still happen are bugs; the hook installed at start-up prints them to the console.

mod chat;
mod fetch;
mod info;
mod model;
mod self_test;

use std::cell::RefCell;
use std::sync::Arc;

use wasm_bindgen::prelude::*;

use crate::gpu::GpuContext;

pub use chat::ChatSession;
pub use info::gpu_info;
pub use model::Model;
pub use self_test::self_test;

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

thread_local! {
    // wasm32 has one thread: this is the page's single device.
    // Arc rather than Rc because `GpuModel` holds one (natively it crosses threads).
    static CONTEXT: RefCell<Option<Arc<GpuContext>>> = const { RefCell::new(None) };
}

/// The page's GPU context, created on first use (adapter and device requests are async).
///
/// GPU errors that no error scope catches go to the console rather than to wgpu's default
/// handler, which panics.
#[allow(clippy::arc_with_non_send_sync)] // wgpu's WebGPU types are !Send on wasm32
pub(crate) async fn context() -> Result<Arc<GpuContext>, JsError> {
    if let Some(ctx) = CONTEXT.with_borrow(|c| c.clone()) {
        return Ok(ctx);
    }
    let ctx = Arc::new(GpuContext::new().await?);
    ctx.device.on_uncaptured_error(std::sync::Arc::new(|e: wgpu::Error| {
        web_log(&format!("lfm-webgpu: uncaptured GPU error: {e}"));
    }));
    // Two first calls may have raced through the await: keep whichever finished first.
    Ok(CONTEXT.with_borrow_mut(|c| c.get_or_insert(ctx).clone()))
}

/// A `serde_json` value as a plain JS object.
pub(crate) fn to_js(value: &serde_json::Value) -> Result<JsValue, JsError> {
    js_sys::JSON::parse(&value.to_string()).map_err(|_| JsError::new("internal: result is not valid JSON"))
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
