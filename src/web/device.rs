//! The page's GPU devices: one [`GpuContext`] per [`ContextOptions`] (the default, and one
//! per `maxBindingBytes` a model was loaded with), created on first use and shared by every
//! model loaded with the same options.
//!
//! A device can be lost (a driver reset, the tab backgrounded on mobile, `destroyDevice()`).
//! wgpu's device-lost callback records why in the context ([`GpuContext::lost`]); a lost
//! context is dropped from the cache so the next `Model.load` gets a fresh device, and every
//! later call on a model of the lost device fails with `device_lost` ([`check_alive`]). Calls
//! in flight fail too: WebGPU rejects a pending buffer mapping when its device is lost, and
//! [`on_failure`] turns that into `device_lost`.

use std::cell::RefCell;
use std::sync::Arc;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::gpu::{ContextOptions, GpuContext};

use super::error::{Code, LfmError, Result};

thread_local! {
    // wasm32 has one thread: these are the page's devices.
    // Arc rather than Rc because `GpuModel` holds one (natively it crosses threads).
    static CONTEXTS: RefCell<Vec<(ContextOptions, Arc<GpuContext>)>> = const { RefCell::new(Vec::new()) };
}

/// The page's GPU context for `options`, created on first use (adapter and device requests
/// are async), or anew when the cached one was lost.
///
/// GPU errors that no error scope catches go to the console rather than to wgpu's default
/// handler, which panics.
#[allow(clippy::arc_with_non_send_sync)] // wgpu's WebGPU types are !Send on wasm32
pub async fn context(options: ContextOptions) -> Result<Arc<GpuContext>> {
    if let Some(ctx) = cached(options) {
        return Ok(ctx);
    }
    let ctx = GpuContext::with_options(options).await.map_err(|e| LfmError::from(e).context("WebGPU"))?;
    let ctx = Arc::new(ctx);
    ctx.device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
        super::web_log(&format!("lfm-webgpu: uncaptured GPU error: {e}"));
    }));
    // Two first calls may have raced through the await: keep whichever finished first.
    Ok(CONTEXTS.with_borrow_mut(|cache| match cache.iter().find(|(o, c)| *o == options && c.lost().is_none()) {
        Some((_, first)) => first.clone(),
        None => {
            cache.push((options, ctx.clone()));
            ctx
        }
    }))
}

/// The cached context for `options`, after dropping every lost one from the cache.
fn cached(options: ContextOptions) -> Option<Arc<GpuContext>> {
    CONTEXTS.with_borrow_mut(|cache| {
        cache.retain(|(_, c)| c.lost().is_none());
        cache.iter().find(|(o, _)| *o == options).map(|(_, c)| c.clone())
    })
}

/// Fails with `device_lost` when `ctx`'s device is lost (before starting GPU work on it).
pub fn check_alive(ctx: &GpuContext) -> Result<()> {
    match ctx.lost() {
        Some(why) => Err(LfmError::device_lost(&why)),
        None => Ok(()),
    }
}

/// How long a GPU failure waits for the device-lost callback (see [`on_failure`]).
const LOST_WAIT_MS: i32 = 200;

/// What a failure of GPU work on `ctx` should say: `device_lost` when the device is lost, else
/// `e`. Chromium rejects a pending mapping of a destroyed device some milliseconds before it
/// runs the device-lost callback, so a GPU failure on a device not (yet) known lost waits up
/// to [`LOST_WAIT_MS`] for the callback (a real GPU error, rare, is reported that much later).
pub async fn on_failure(ctx: &GpuContext, e: LfmError) -> LfmError {
    if e.code == Code::Gpu {
        for _ in 0..LOST_WAIT_MS / 10 {
            if ctx.lost().is_some() {
                break;
            }
            sleep_ms(10).await;
        }
    }
    match ctx.lost() {
        Some(why) => LfmError::device_lost(&why),
        None => e,
    }
}

/// For tests: destroys the page's GPU devices (every cached context), as a driver reset
/// would. Models loaded on them fail with `device_lost` from then on (calls in flight
/// included); the next `Model.load` creates a fresh device. Resolves once wgpu's device-lost
/// callback has recorded the loss (or after 2 s).
#[wasm_bindgen(js_name = destroyDevice)]
pub async fn destroy_device() {
    let contexts: Vec<Arc<GpuContext>> = CONTEXTS.with_borrow_mut(|cache| cache.drain(..).map(|(_, c)| c).collect());
    for ctx in &contexts {
        ctx.device.destroy();
    }
    for _ in 0..200 {
        if contexts.iter().all(|c| c.lost().is_some()) {
            return;
        }
        sleep_ms(10).await;
    }
    // The callback never ran: record the loss ourselves so calls still fail clearly.
    for ctx in &contexts {
        ctx.mark_lost("Destroyed: destroyDevice() was called");
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: i32) -> JsValue;
}

/// Resolves after `ms` milliseconds (a macrotask later for 0).
async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}
